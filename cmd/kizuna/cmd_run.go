package main

import (
	"context"
	"errors"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func (a *App) runCommand() *cobra.Command {
	var f workerFlags
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Scheduler and worker in one process: the small-company default",
		Long: `Run the scheduler (watching --campaigns or KIZUNA_CAMPAIGNS) and a worker in
one process: campaigns are started when due and sent by the same process.
The web server and the inbound intake join it as they become available.
SIGTERM or Ctrl-C stops both: no new runs or claims, messages in flight
finish or are released, and the process exits within 30 seconds.`,
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
			s, err := a.newScheduler(db, dir, w.Enqueuer().Expanded)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			errs := make(chan error, 2)
			for _, part := range []func(context.Context) error{w.Run, s.Run} {
				go func() {
					err := part(ctx)
					cancel() // one part ending (or failing) stops the other
					errs <- err
				}()
			}
			return errors.Join(<-errs, <-errs)
		},
	}
	f.register(cmd)
	return cmd
}
