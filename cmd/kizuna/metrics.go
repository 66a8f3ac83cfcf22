package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/jmoiron/sqlx"

	"github.com/kizuna-alumni/kizuna/internal/metrics"
	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/web"
)

// metrics returns the process's one set of Prometheus metrics, made on
// first use: every part of the process (worker, scheduler, web server)
// counts into it and /metrics serves it.
func (a *App) metrics() *metrics.Metrics {
	if a.met == nil {
		a.met = metrics.New()
	}
	return a.met
}

// watchQueue exposes kizuna_queue_depth from db (runs.QueueDepth, read at
// each scrape); calling it again does nothing.
func (a *App) watchQueue(db *sqlx.DB) {
	a.metrics().WatchQueue(func(ctx context.Context) (int64, error) {
		return runs.QueueDepth(ctx, db)
	}, a.log.With("component", "metrics"))
}

// withMetricsListener runs part (a worker's or scheduler's Run) and, when
// KIZUNA_METRICS_LISTEN is set, serves /metrics and /healthz there until
// part returns. A listen error stops the command before part starts
// (exit 1); a scrape never affects part. db and the process's Redis are
// what /healthz pings.
func (a *App) withMetricsListener(ctx context.Context, db *sqlx.DB, part func(context.Context) error) error {
	addr := a.cfg.MetricsListen
	if addr == "" {
		return part(ctx)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("KIZUNA_METRICS_LISTEN: listen on %s: %w", addr, err)
	}
	log := a.log.With("component", "metrics")
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.metrics())
	mux.Handle("GET /healthz", web.HealthHandler(db, a.rdb, log))
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: web.ReadHeaderTimeout,
		ReadTimeout:       web.ReadTimeout,
		WriteTimeout:      web.WriteTimeout,
		IdleTimeout:       web.IdleTimeout,
		MaxHeaderBytes:    web.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(ln); err != http.ErrServerClosed {
			log.Error("the metrics listener stopped", "err", err)
		}
	}()
	log.Info("serving /metrics and /healthz", "addr", ln.Addr().String())
	err = part(ctx)
	srv.Close() // a scrape in flight is not worth waiting for
	<-served
	return err
}
