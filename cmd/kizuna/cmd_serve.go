package main

import (
	"context"
	"net/http"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/kizuna-alumni/kizuna/internal/token"
	"github.com/kizuna-alumni/kizuna/internal/web"
)

func (a *App) serveCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "The web server: opens, clicks, one-click unsubscribe and preferences, RSVPs, health, metrics and the HR dashboard",
		Long: `Serve Kizuna's public URLs on KIZUNA_LISTEN (or --listen): the open pixel
/o/TOKEN, tracked links /c/TOKEN, the unsubscribe and preferences page
/u/TOKEN (RFC 8058 one-click POST), the RSVP page of events /r/TOKEN,
/healthz and /metrics, and the HR dashboard /admin/ when KIZUNA_ADMIN_TOKEN
is set (bearer token, or the password of the browser's sign-in prompt).
Put it behind the https address in KIZUNA_BASE_URL.
Any number of servers may run at once against one Postgres. SIGTERM or Ctrl-C stops accepting, finishes the
requests in flight and records every event they queued, then exits.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			s, err := a.newWebServer(ctx)
			if err != nil {
				return err
			}
			return s.Run(ctx, a.cfg.Listen)
		},
	}
}

// newWebServer builds the web server from the configuration.
func (a *App) newWebServer(ctx context.Context) (*web.Server, error) {
	if err := a.cfg.RequireSecret(); err != nil {
		return nil, invalidInput(err)
	}
	db, err := a.DB(ctx)
	if err != nil {
		return nil, err
	}
	rdb, _, err := a.redis()
	if err != nil {
		return nil, err
	}
	// The mail an RSVP queues (its confirmation) goes to the workers'
	// queue at once instead of waiting for their reconciler.
	enqueue, err := a.taskEnqueuer()
	if err != nil {
		return nil, err
	}
	return web.New(web.Options{
		DB: db, Redis: rdb, Signer: token.New(a.cfg.Secret()),
		Log: a.log.With("component", "web"), Metrics: a.metricsHandler(),
		Enqueue: enqueue, AdminToken: a.cfg.AdminToken(),
	})
}

// metricsHandler serves the process's Prometheus metrics on /metrics: the
// *metrics.Metrics every part of the process counts into, which the web
// server also counts its requests, opens, clicks and unsubscribes in.
func (a *App) metricsHandler() http.Handler {
	if a.db != nil {
		a.watchQueue(a.db)
	}
	return a.metrics()
}
