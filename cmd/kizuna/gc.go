package main

import "runtime/debug"

// senderGCPercent is the garbage collector's target in processes that send
// (kizuna worker, kizuna run) when GOGC is not set.
//
// A sending process keeps a small live heap (about 10 MiB) and allocates
// every rendered message anew (~13 KB each, thousands a second), so with
// Go's default of 100 it collected every few hundred messages. At 400 the
// heap may grow to about five times its live size first. Measured on the
// 100k start→last benchmark (2 cores): worker CPU per message 64–71 µs →
// 55 µs, peak RSS 27–29 MiB → 41 MiB (target ≤ 150 MiB).
const senderGCPercent = 400

// tuneSenderGC applies senderGCPercent unless the operator set GOGC.
func tuneSenderGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(senderGCPercent)
	}
}
