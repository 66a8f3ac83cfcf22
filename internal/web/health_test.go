package web

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"
	"github.com/redis/go-redis/v9"

	"github.com/kizuna-alumni/kizuna/internal/testdb"
	"github.com/kizuna-alumni/kizuna/internal/testredis"
	"github.com/kizuna-alumni/kizuna/internal/token"
)

// healthServer is a web server on a real database and Redis.
func healthServer(t *testing.T, db *sqlx.DB, rdb redis.UniversalClient, opt Options) *httptest.Server {
	t.Helper()
	opt.DB, opt.Redis = db, rdb
	opt.Signer = token.New([]byte("0123456789abcdef0123456789abcdef-health"))
	opt.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.instrument(s.Handler()))
	t.Cleanup(ts.Close)
	return ts
}

// healthGet fetches /healthz: status, decoded body, raw body.
func healthGet(t *testing.T, base string) (int, map[string]string, string) {
	t.Helper()
	res, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var body map[string]string
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("body %q: %v", raw, err)
	}
	return res.StatusCode, body, string(raw)
}

func TestHealthzReportsPostgresAndRedis(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	red := testredis.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: red.Addr, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	ts := healthServer(t, db.DB, rdb, Options{})

	code, body, raw := healthGet(t, ts.URL)
	if code != http.StatusOK || body["status"] != "ok" || body["postgres"] != "ok" || body["redis"] != "ok" {
		t.Fatalf("with both up: %d %s", code, raw)
	}

	red.Stop()
	code, body, raw = healthGet(t, ts.URL)
	if code != http.StatusServiceUnavailable || body["status"] != "unavailable" || body["postgres"] != "ok" || body["redis"] != "unreachable" {
		t.Fatalf("with Redis stopped: %d %s; want 503 naming redis", code, raw)
	}
	if strings.Contains(raw, red.Addr) || strings.Contains(raw, "127.0.0.1") {
		t.Errorf("the body names an address: %s", raw)
	}
}

func TestHealthzNamesAnUnreachablePostgres(t *testing.T) {
	t.Parallel()
	// A real driver against a port nobody listens on, with a password
	// that must not leak.
	db, err := sqlx.Open("postgres", "postgres://kizuna:hunter2-pw@127.0.0.1:1/kizuna?sslmode=disable&connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ts := healthServer(t, db, nil, Options{})
	code, body, raw := healthGet(t, ts.URL)
	if code != http.StatusServiceUnavailable || body["postgres"] != "unreachable" || body["redis"] != "unchecked" {
		t.Fatalf("Postgres down: %d %s; want 503 naming postgres", code, raw)
	}
	if strings.Contains(raw, "hunter2") || strings.Contains(raw, "127.0.0.1") {
		t.Errorf("the body leaks the URL: %s", raw)
	}
}
