package worker_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kizuna-alumni/kizuna/internal/smtptest"
	"github.com/kizuna-alumni/kizuna/internal/testbin"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
	"github.com/kizuna-alumni/kizuna/internal/testredis"
)

// These tests drive the real binary as separate processes, as an operator
// would: `kizuna worker` against Postgres, Redis and an SMTP relay.

// startWorker runs `kizuna worker` with the given flags; it is killed
// with SIGKILL at cleanup.
func startWorker(t *testing.T, db *testdb.DB, redisURL, smtpURL string, flags ...string) *testbin.Proc {
	t.Helper()
	return testbin.Start(t, testbin.Options{Name: "worker", Kill: true,
		Args: append([]string{"worker", "--lease", "3s", "--retry-base", "200ms"}, flags...),
		Vars: map[string]string{"KIZUNA_DATABASE_URL": db.URL, "KIZUNA_REDIS_URL": redisURL, "KIZUNA_SMTP_URL": smtpURL,
			"KIZUNA_SECRET": testSecret, "KIZUNA_BASE_URL": "https://alumni.example.co.jp"}})
}

// slowRelay makes each DATA take a few milliseconds, so a run of a few
// hundred messages lasts long enough to be interrupted.
func slowRelay(srv *smtptest.Server, d time.Duration) {
	srv.SetFault(func(stage smtptest.Stage, _ string, _ []string) error {
		if stage == smtptest.StageData {
			time.Sleep(d)
		}
		return nil
	})
}

// inFlight counts the run's deliveries being sent: pending in a chunk
// whose lease is live (a claim leaves its deliveries pending).
func inFlight(t *testing.T, db *testdb.DB, run int64) int {
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM deliveries d JOIN send_leases l ON l.chunk_id = d.chunk_id
		WHERE d.run_id = $1 AND d.state = 'pending' AND l.lease_until > now()`, run); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestKillNineMidRunLosesNothing(t *testing.T) {
	t.Parallel()
	const n = 400
	db := testdb.New(t)
	rd := testredis.Start(t)
	srv := smtptest.Start(t)
	slowRelay(srv, 5*time.Millisecond)
	seedAlumni(t, db, n)
	run := startRun(t, db, rd.URL, newsletter("news"))
	w1 := startWorker(t, db, rd.URL, srv.URL(), "--concurrency", "4")
	if !srv.WaitFor(n/4, 30*time.Second) {
		t.Fatalf("first worker sent only %d messages", srv.Accepted())
	}
	w1.Kill9()
	time.Sleep(200 * time.Millisecond) // let the relay finish what it was reading
	atKill := srv.Accepted()
	claimed := inFlight(t, db, run.ID)
	// Messages in flight at the kill: accepted by the relay but not
	// recorded as sent — exactly the ones a successor may send again.
	var recorded int
	db.Get(&recorded, `SELECT count(*) FROM deliveries WHERE run_id = $1 AND state = 'sent'`, run.ID)
	unrecorded := atKill - recorded
	start := time.Now()
	startWorker(t, db, rd.URL, srv.URL(), "--concurrency", "4")
	waitRun(t, db, run.ID, 40*time.Second)
	dups := checkEveryone(t, srv, n)
	t.Logf("kill -9 after %d of %d accepted: %d deliveries claimed, %d accepted but unrecorded (in flight); "+
		"successor finished in %s; %d duplicates; %d messages in all",
		atKill, n, claimed, unrecorded, time.Since(start).Round(time.Millisecond), dups, srv.Accepted())
	if dups > unrecorded {
		t.Fatalf("%d duplicates exceed the %d messages in flight at the kill", dups, unrecorded)
	}
}

func TestRedisFlushAllMidRunLosesNothing(t *testing.T) {
	t.Parallel()
	const n = 400
	db := testdb.New(t)
	rd := testredis.Start(t)
	srv := smtptest.Start(t)
	slowRelay(srv, 5*time.Millisecond)
	seedAlumni(t, db, n)
	run := startRun(t, db, rd.URL, newsletter("news"))
	startWorker(t, db, rd.URL, srv.URL(), "--concurrency", "4")
	if !srv.WaitFor(n/4, 30*time.Second) {
		t.Fatalf("worker sent only %d messages", srv.Accepted())
	}
	c := redis.NewClient(&redis.Options{Addr: rd.Addr})
	defer c.Close()
	if err := c.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	atFlush := srv.Accepted()
	start := time.Now()
	waitRun(t, db, run.ID, 40*time.Second)
	dups := checkEveryone(t, srv, n)
	t.Logf("FLUSHALL after %d of %d accepted; run finished %s later; %d duplicates", atFlush, n, time.Since(start).Round(time.Millisecond), dups)
	if dups != 0 {
		t.Fatalf("%d duplicates after FLUSHALL; the worker never died, so none may be sent twice", dups)
	}
}

func TestFlakyRelayEveryoneGetsItOnce(t *testing.T) {
	t.Parallel()
	const n = 300
	db := testdb.New(t)
	rd := testredis.New(t)
	srv := smtptest.Start(t)
	var mu sync.Mutex
	rnd := rand.New(rand.NewPCG(1, 2))
	var answered451, dropped int
	srv.SetFault(func(stage smtptest.Stage, _ string, _ []string) error {
		if stage != smtptest.StageData {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		switch x := rnd.Float64(); {
		case x < 0.10:
			answered451++
			return smtptest.Reply(451, "4.3.0", "try again later")
		case x < 0.12:
			dropped++
			return smtptest.ErrDrop
		}
		return nil
	})
	seedAlumni(t, db, n)
	run := startRun(t, db, rd.URL, newsletter("news"))
	startWorker(t, db, rd.URL, srv.URL(), "--concurrency", "4")
	waitRun(t, db, run.ID, 50*time.Second)
	dups := checkEveryone(t, srv, n)
	var retried, failed int
	db.Get(&retried, `SELECT count(*) FROM deliveries WHERE run_id = $1 AND attempts > 1`, run.ID)
	db.Get(&failed, `SELECT count(*) FROM deliveries WHERE run_id = $1 AND state <> 'sent'`, run.ID)
	mu.Lock()
	t.Logf("relay answered 451 %d times and dropped %d connections; %d deliveries needed a retry; %d duplicates", answered451, dropped, retried, dups)
	mu.Unlock()
	if dups != 0 || failed != 0 {
		t.Fatalf("%d duplicates, %d deliveries not sent", dups, failed)
	}
	if retried == 0 {
		t.Fatal("no delivery was retried: the faults did not apply")
	}
}

func TestTwoWorkersSendEachMessageOnce(t *testing.T) {
	t.Parallel()
	const n = 400
	db := testdb.New(t)
	rd := testredis.New(t)
	srv := smtptest.Start(t)
	slowRelay(srv, time.Millisecond)
	seedAlumni(t, db, n)
	run := startRun(t, db, rd.URL, newsletter("news"))
	startWorker(t, db, rd.URL, srv.URL(), "--concurrency", "3")
	startWorker(t, db, rd.URL, srv.URL(), "--concurrency", "3")
	waitRun(t, db, run.ID, 40*time.Second)
	if dups := checkEveryone(t, srv, n); dups != 0 {
		t.Fatalf("%d duplicates with two workers", dups)
	}
}

func TestSIGTERMStopsGracefully(t *testing.T) {
	t.Parallel()
	const n = 300
	db := testdb.New(t)
	rd := testredis.New(t)
	srv := smtptest.Start(t)
	slowRelay(srv, 10*time.Millisecond)
	seedAlumni(t, db, n)
	run := startRun(t, db, rd.URL, newsletter("news"))
	w := startWorker(t, db, rd.URL, srv.URL(), "--concurrency", "4")
	if !srv.WaitFor(30, 30*time.Second) {
		t.Fatal("worker did not start sending")
	}
	w.Signal(syscall.SIGTERM)
	select {
	case <-w.Done():
		if w.Err() != nil {
			t.Fatalf("worker exited with %v after SIGTERM:\n%s", w.Err(), testbin.Tail(w.Output(), 2000))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("worker still running 30 s after SIGTERM")
	}
	// Nothing is left claimed: in-flight messages were recorded, the rest
	// released; and what was accepted is recorded as sent.
	if f := inFlight(t, db, run.ID); f != 0 {
		t.Fatalf("%d deliveries left claimed after a graceful stop", f)
	}
	var sent int
	db.Get(&sent, `SELECT count(*) FROM deliveries WHERE run_id = $1 AND state = 'sent'`, run.ID)
	if sent != srv.Accepted() {
		t.Fatalf("%d recorded sent, relay accepted %d", sent, srv.Accepted())
	}
	if sent == n {
		t.Skip("the run finished before the signal; nothing to release")
	}
	startWorker(t, db, rd.URL, srv.URL(), "--concurrency", "4")
	waitRun(t, db, run.ID, 40*time.Second)
	if dups := checkEveryone(t, srv, n); dups != 0 {
		t.Fatalf("%d duplicates after a graceful stop and restart", dups)
	}
}
