// Command kizuna is the alumni outreach engine: one binary whose subcommands
// import the roster, validate and send campaigns, run the workers, the web
// server and the inbound mail intake. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	app := NewApp(os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	code := app.Run(ctx, os.Args[1:])
	app.Close()
	stop()
	os.Exit(code)
}
