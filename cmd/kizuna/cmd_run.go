package main

import (
	"context"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/kizuna-alumni/kizuna/internal/runs"
)

func (a *App) runCommand() *cobra.Command {
	var f workerFlags
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Scheduler, worker and web server in one process: the small-company default",
		Long: `Run the scheduler (watching --campaigns or KIZUNA_CAMPAIGNS), a worker and the
web server (on KIZUNA_LISTEN) in one process: campaigns are started when due
and sent by the same process, and the links in the mail it sends are served.
With KIZUNA_INBOUND_LISTEN or KIZUNA_IMAP_URL set, it also takes in replies
and bounces (see kizuna inbound --help).
SIGTERM or Ctrl-C stops all of them: no new runs or claims, messages in flight
finish or are released, events are recorded, and the process exits within
30 seconds.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			dir, err := a.campaignsDir()
			if err != nil {
				return err
			}
			w, err := a.newWorker(ctx, f)
			if err != nil {
				return err
			}
			db, err := a.DB(ctx)
			if err != nil {
				return err
			}
			// Runs started here hand their deliveries straight to the
			// worker's queue.
			s, err := a.newScheduler(db, dir, runs.EnqueueTasks(w.Enqueuer()))
			if err != nil {
				return err
			}
			srv, err := a.newWebServer(ctx)
			if err != nil {
				return err
			}
			serve := func(ctx context.Context) error { return srv.Run(ctx, a.cfg.Listen) }
			parts := []func(context.Context) error{w.Run, s.Run, serve}
			if a.inboundConfigured() {
				in, err := a.inboundParts(ctx)
				if err != nil {
					return err
				}
				parts = append(parts, in...)
			}
			// One part ending (or failing) stops the others.
			return runParts(ctx, parts)
		},
	}
	f.register(cmd)
	return cmd
}
