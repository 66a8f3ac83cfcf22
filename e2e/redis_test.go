package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kizuna-alumni/kizuna/internal/testbin"
	"github.com/kizuna-alumni/kizuna/internal/testredis"
)

// A worker, scheduler or run whose Redis does not answer says so in one
// line (without the URL's password), and gives up with exit status 1 after
// --redis-wait.
func TestRedisUnreachableAtStart(t *testing.T) {
	e := newEnv(t)
	addr := freeAddr(t) // nothing listens there
	vars := map[string]string{}
	for k, v := range e.vars {
		vars[k] = v
	}
	const password = "redis-pass-4f1c9a"
	vars["KIZUNA_REDIS_URL"] = "redis://:" + password + "@" + addr + "/0"
	campaigns := t.TempDir()
	for _, args := range [][]string{
		{"worker", "--redis-wait", "2s"},
		{"scheduler", "--campaigns", campaigns, "--redis-wait", "2s"},
		{"run", "--campaigns", campaigns, "--redis-wait", "2s"},
	} {
		t.Run(args[0], func(t *testing.T) {
			r := kizuna(t, vars, args...)
			if r.Code != 1 {
				t.Fatalf("exit %d, want 1\n%s", r.Code, r)
			}
			out := r.Stdout + r.Stderr
			if strings.Contains(out, password) {
				t.Errorf("the output shows the Redis password\n%s", r)
			}
			want := fmt.Sprintf("Redis at %s does not answer: ", addr)
			if n := strings.Count(out, want); n != 1 {
				t.Errorf("%d lines say %q, want 1\n%s", n, want, r)
			}
			if !strings.Contains(out, "; retrying") {
				t.Errorf("no line says Kizuna retries\n%s", r)
			}
			final := fmt.Sprintf("kizuna: Redis at %s did not answer within 2s", addr)
			if !strings.Contains(r.Stderr, final) {
				t.Errorf("stderr does not end with %q\n%s", final, r)
			}
			if lines := strings.Count(strings.TrimSpace(out), "\n") + 1; lines > 3 {
				t.Errorf("%d lines of output, want at most 3\n%s", lines, r)
			}
		})
	}
}

// A running worker whose Redis goes away keeps running, says so once
// instead of a line per failed command, and works again when Redis is back
// on the same address.
func TestWorkerQuietWhileRedisIsAway(t *testing.T) {
	e := newEnv(t)
	srv := testredis.Start(t)
	w := e.startWith(t, map[string]string{"KIZUNA_REDIS_URL": srv.URL}, "worker", "worker")
	w.WaitOutput(t, "worker started", 30*time.Second)

	before := len(w.Output())
	srv.Stop()
	time.Sleep(12 * time.Second) // two heartbeats and several dequeue, forward and reconcile rounds
	w.Alive(t)
	away := w.Output()[before:]
	want := fmt.Sprintf("Redis at %s does not answer: ", srv.Addr)
	if n := strings.Count(away, want); n != 1 {
		t.Errorf("%d lines say %q while Redis was away, want 1:\n%s", n, want, away)
	}
	if lines := strings.Count(away, "\n"); lines > 2 {
		t.Errorf("the worker logged %d lines in 12 s without Redis, want at most 2:\n%s", lines, away)
	}

	srv.Restart(t)
	w.WaitOutput(t, fmt.Sprintf("Redis at %s answers again", srv.Addr), 30*time.Second)
	// Asynq's heartbeat registers the worker again in the new Redis.
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer c.Close()
	deadline := time.Now().Add(30 * time.Second)
	for c.ZCard(context.Background(), "asynq:servers").Val() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the worker did not register with the restarted Redis within 30 s:\n%s", testbin.Tail(w.Output(), 4000))
		}
		time.Sleep(200 * time.Millisecond)
	}
	w.Alive(t)
	if code, _ := w.Terminate(t, 30*time.Second); code != 0 {
		t.Errorf("the worker exited %d after SIGTERM, want 0", code)
	}
}
