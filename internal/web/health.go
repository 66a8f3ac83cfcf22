package web

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// HealthTimeout bounds each check of /healthz: a load balancer gets an
// answer quickly even when a dependency hangs.
const HealthTimeout = 2 * time.Second

// Health states of one dependency in the /healthz body.
const (
	healthOK          = "ok"
	healthUnreachable = "unreachable"
	healthUnchecked   = "unchecked" // no Redis client configured
)

// Pinger is what /healthz needs of Postgres (a *sqlx.DB or *sql.DB).
type Pinger interface {
	PingContext(ctx context.Context) error
}

// HealthHandler answers GET /healthz (SPEC.md, Web server): it pings
// Postgres (db) and Redis (rdb; nil: not checked) at once, each within
// HealthTimeout, and writes
//
//	200 {"status":"ok","postgres":"ok","redis":"ok"}
//	503 {"status":"unavailable","postgres":"ok","redis":"unreachable"}
//
// naming the failing part. The body never holds an address, URL or error
// text (they may name hosts or hold credentials); the error is logged on
// log instead. Answers are never cached. The worker and scheduler serve
// it too, on KIZUNA_METRICS_LISTEN.
func HealthHandler(db Pinger, rdb redis.UniversalClient, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var pg, rd string
		var wg sync.WaitGroup
		wg.Go(func() { pg = healthCheck(r.Context(), log, "postgres", db.PingContext) })
		if rdb == nil {
			rd = healthUnchecked
		} else {
			wg.Go(func() {
				rd = healthCheck(r.Context(), log, "redis", func(ctx context.Context) error { return rdb.Ping(ctx).Err() })
			})
		}
		wg.Wait()
		body := struct {
			Status   string `json:"status"`
			Postgres string `json:"postgres"`
			Redis    string `json:"redis"`
		}{Status: healthOK, Postgres: pg, Redis: rd}
		code := http.StatusOK
		if pg == healthUnreachable || rd == healthUnreachable {
			body.Status, code = "unavailable", http.StatusServiceUnavailable
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(body)
	})
}

// healthCheck runs one ping within HealthTimeout and says "ok" or
// "unreachable", logging why.
func healthCheck(ctx context.Context, log *slog.Logger, part string, ping func(context.Context) error) string {
	ctx, cancel := context.WithTimeout(ctx, HealthTimeout)
	defer cancel()
	if err := ping(ctx); err != nil {
		log.Warn("health check failed", "part", part, "err", err)
		return healthUnreachable
	}
	return healthOK
}

// handleHealth serves GET /healthz for the web server.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	HealthHandler(s.opt.DB, s.opt.Redis, s.log).ServeHTTP(w, r)
}
