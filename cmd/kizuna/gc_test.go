package main

import (
	"runtime/debug"
	"testing"
)

func TestTuneSenderGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)

	tuneSenderGC(func(string) string { return "" })
	if got := debug.SetGCPercent(100); got != senderGCPercent {
		t.Fatalf("GOGC unset: GC percent %d, want %d", got, senderGCPercent)
	}
	tuneSenderGC(func(k string) string {
		if k == "GOGC" {
			return "50"
		}
		return ""
	})
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GOGC set by the operator: GC percent changed to %d", got)
	}
}
