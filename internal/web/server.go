// Package web is Kizuna's HTTP server (`kizuna serve`, also started by
// `kizuna run`): the open pixel, tracked-link redirects, the RFC 8058
// one-click unsubscribe and the unsubscribe/preferences pages, the RSVP
// pages of events, health and Prometheus metrics, and the HR dashboard
// (/admin/, behind KIZUNA_ADMIN_TOKEN). It owns no table: it
// records through the owners' verbs (runs for delivery events and RSVPs,
// roster for suppressions and preferences). Any number of servers may run
// against one Postgres.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"

	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/token"
)

// Limits and timeouts of the server: a slow or hostile client cannot hold a
// connection or memory for long.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 10 * time.Second
	WriteTimeout      = 15 * time.Second
	IdleTimeout       = 60 * time.Second
	MaxHeaderBytes    = 16 << 10
	// MaxBodyBytes bounds a request body (the one-click form is a few
	// dozen bytes).
	MaxBodyBytes = 64 << 10
	// ShutdownTimeout bounds a graceful stop: requests in flight finish
	// and every queued event is recorded first.
	ShutdownTimeout = 20 * time.Second
)

// Options configure a Server.
type Options struct {
	DB     *sqlx.DB
	Redis  redis.UniversalClient // for /healthz; nil: not checked
	Signer *token.Signer         // KIZUNA_SECRET: verifies every token
	Log    *slog.Logger
	// Metrics is served on /metrics; nil serves 404 there.
	Metrics http.Handler
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Enqueue hands the mail an RSVP queues (its confirmation, a
	// promotion notice) to the workers at once; nil leaves them to the
	// workers' reconciler, which finds them within seconds.
	Enqueue runs.Enqueue
	// AdminToken is KIZUNA_ADMIN_TOKEN: the bearer token (or Basic
	// password) of the dashboard at /admin/; "" leaves /admin/ unrouted
	// (404). With Redis set, the dashboard also mounts the Asynq queue
	// monitor at /admin/queues/ over that client.
	AdminToken string
}

// Server serves Kizuna's public URLs (SPEC.md, Web server).
type Server struct {
	opt Options
	log *slog.Logger
	mux *http.ServeMux
	rec *eventRecorder
	// cals holds the prepared campaign versions of the RSVP page's
	// calendar downloads.
	cals rsvpCalendars
	// queues is the Asynq queue monitor of the dashboard (nil without
	// an admin token or Redis).
	queues *queueMonitor
}

// New builds a server; Run serves it.
func New(opt Options) (*Server, error) {
	if opt.DB == nil || opt.Signer == nil {
		return nil, errors.New("web: a database and a token signer are required")
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	s := &Server{opt: opt, log: opt.Log, mux: http.NewServeMux()}
	s.rec = newEventRecorder(opt.DB, opt.Log)
	if opt.AdminToken != "" && opt.Redis != nil {
		s.queues = newQueueMonitor(opt.Redis)
	}
	s.routes()
	return s, nil
}

// routes lists every URL the server answers (SPEC.md, Web server).
func (s *Server) routes() {
	s.mux.HandleFunc("GET /o/{token}", s.handleOpen)
	s.mux.HandleFunc("GET /c/{token}", s.handleClick)
	s.mux.HandleFunc("GET /u/{token}", s.handleUnsubscribePage)
	s.mux.HandleFunc("POST /u/{token}", s.handleUnsubscribe)
	s.mux.HandleFunc("POST /u/{token}/preferences", s.handlePreferences)
	s.mux.HandleFunc("GET /r/{token}", s.handleRSVPPage)
	s.mux.HandleFunc("POST /r/{token}", s.handleRSVP)
	s.mux.HandleFunc("GET /r/{token}/event.ics", s.handleRSVPCalendar)
	s.mux.HandleFunc("GET /healthz", s.handleHealth)
	s.mux.HandleFunc("GET /static/{file}", s.handleStatic)
	if s.opt.Metrics != nil {
		s.mux.Handle("GET /metrics", s.opt.Metrics)
	}
	s.adminRoutes()
	s.mux.HandleFunc("/", s.handleNotFound)
}

// Handler is the server's http.Handler with its middleware: security
// headers, body limits and cross-origin protection on forms.
func (s *Server) Handler() http.Handler {
	return s.instrument(s.secure(s.mux))
}

// Run serves on addr until ctx ends, then shuts down gracefully: it stops
// accepting, lets requests in flight finish and records every event they
// queued before it returns (within ShutdownTimeout).
func (s *Server) Run(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("web: listen on %s: %w", addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on a listener the caller opened (tests use a free port).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	recCtx, stopRec := context.WithCancel(context.WithoutCancel(ctx))
	recDone := make(chan struct{})
	go func() { s.rec.loop(recCtx); close(recDone) }()

	errs := make(chan error, 1)
	go func() { errs <- srv.Serve(ln) }()
	s.log.Info("web server listening", "addr", ln.Addr().String())
	select {
	case err := <-errs:
		stopRec()
		<-recDone
		return fmt.Errorf("web: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(shutCtx) // waits for the handlers, which wait for their events
	stopRec()                    // the recorder drains what is queued before it returns
	<-recDone
	s.log.Info("web server stopped")
	if err != nil {
		return fmt.Errorf("web: shutdown: %w", err)
	}
	return nil
}
