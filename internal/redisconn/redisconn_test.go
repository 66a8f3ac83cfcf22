package redisconn

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kizuna-alumni/kizuna/internal/testbin"
	"github.com/kizuna-alumni/kizuna/internal/testredis"
)

// monitor watches srv with a clock the test moves.
func monitor(t *testing.T, srv *testredis.Server) (*Monitor, *testbin.Buffer, *time.Time) {
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { c.Close() })
	var buf testbin.Buffer
	m := New(c, srv.Addr, slog.New(slog.NewTextHandler(&buf, nil)))
	now := time.Date(2025, 4, 1, 9, 0, 0, 0, time.UTC)
	m.now = func() time.Time { return now }
	return m, &buf, &now
}

// While Redis stays away the monitor says so once, then at most once per
// quiet period, and once more when Redis is back.
func TestCheckSaysEachChangeOnce(t *testing.T) {
	srv := testredis.Start(t)
	m, buf, now := monitor(t, srv)
	ctx := context.Background()
	if err := m.Check(ctx); err != nil || len(buf.Lines()) != 0 {
		t.Fatalf("healthy Redis: err %v, lines %q", err, buf.Lines())
	}
	srv.Stop()
	for i := 0; i < 20; i++ {
		if m.Check(ctx) == nil {
			t.Fatal("a stopped Redis answered")
		}
		*now = now.Add(time.Second)
	}
	lines := buf.Lines()
	if len(lines) != 1 || !strings.Contains(lines[0], "Redis at "+srv.Addr+" does not answer: ") || !strings.Contains(lines[0], "; retrying") {
		t.Fatalf("20 failed checks in 20 s logged %q, want one line", lines)
	}
	if !m.Down() {
		t.Error("Down is false after failed checks")
	}
	*now = now.Add(QuietPeriod)
	m.Check(ctx)
	m.Check(ctx)
	if lines := buf.Lines(); len(lines) != 2 || !strings.Contains(lines[1], "still does not answer after") {
		t.Fatalf("after a quiet period: %q, want one reminder", lines)
	}
	srv.Restart(t)
	// go-redis redials a pool that failed to dial about once a second.
	if err := m.Wait(ctx, 10*time.Second); err != nil {
		t.Fatalf("restarted Redis: %v", err)
	}
	if lines := buf.Lines(); len(lines) != 3 || !strings.Contains(lines[2], "answers again") {
		t.Fatalf("after Redis came back: %q", lines)
	}
}

// Wait gives up after its bound with an error that names the address.
func TestWaitGivesUp(t *testing.T) {
	srv := testredis.Start(t)
	m, buf, _ := monitor(t, srv)
	srv.Stop()
	err := m.Wait(context.Background(), 600*time.Millisecond)
	if !errors.Is(err, ErrNoAnswer) || !strings.Contains(err.Error(), "Redis at "+srv.Addr+" did not answer within 600ms") {
		t.Fatalf("Wait: %v", err)
	}
	if lines := buf.Lines(); len(lines) != 1 {
		t.Errorf("Wait logged %q, want one line", lines)
	}
	srv.Restart(t)
	if err := m.Wait(context.Background(), time.Second); err != nil {
		t.Errorf("Wait with Redis up: %v", err)
	}
}

// A library's lines about the connection are left to the monitor, and any
// other line appears at most once per quiet period, with a count of the rest.
func TestLibraryLines(t *testing.T) {
	srv := testredis.Start(t)
	m, buf, now := monitor(t, srv)
	for i := 0; i < 5; i++ {
		m.Library(slog.LevelError, "Dequeue error: UNKNOWN: redis eval error: dial tcp "+srv.Addr+": connect: connection refused")
		m.Printf(context.Background(), "redis: discarding bad PubSub connection: %v", "EOF")
	}
	if lines := buf.Lines(); len(lines) != 0 {
		t.Fatalf("connection errors were logged: %q", lines)
	}
	for i := 0; i < 5; i++ {
		m.Library(slog.LevelWarn, "some other trouble")
	}
	*now = now.Add(QuietPeriod)
	m.Library(slog.LevelWarn, "some other trouble")
	lines := buf.Lines()
	if len(lines) != 2 || !strings.Contains(lines[1], "similar_lines_left_out=4") {
		t.Fatalf("lines %q, want the first and, a period later, one with the count of the rest", lines)
	}
}
