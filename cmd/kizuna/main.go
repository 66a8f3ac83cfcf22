// Command kizuna is the alumni outreach engine: one binary whose subcommands
// import the roster, validate and send campaigns, run the workers, the web
// server and the inbound mail intake. See README.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfile := startCPUProfile(os.Getenv("KIZUNA_CPU_PROFILE"))
	app := NewApp(os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	code := app.Run(ctx, os.Args[1:])
	app.Close()
	stopProfile()
	stop()
	os.Exit(code)
}

// startCPUProfile writes a CPU profile (runtime/pprof, read with `go tool
// pprof`) of the whole command to path until the returned function is
// called; "" profiles nothing. A developer setting (KIZUNA_CPU_PROFILE):
// `make bench` uses it to say where the worker's time goes. A file that
// cannot be written is reported on stderr and the command runs anyway.
func startCPUProfile(path string) (stop func()) {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "KIZUNA_CPU_PROFILE: %v (running without a profile)\n", err)
		if f != nil {
			f.Close()
		}
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
