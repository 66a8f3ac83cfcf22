package worker_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/smtptest"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
	"github.com/kizuna-alumni/kizuna/internal/testredis"
	"github.com/kizuna-alumni/kizuna/worker"
)

// waitDone waits until run is done.
func waitDone(t *testing.T, db *testdb.DB, run int64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r, err := runs.Get(t.Context(), db, run)
		if err != nil {
			t.Fatal(err)
		}
		if r.State == runs.StateDone {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("run state %s after %s, want done", r.State, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A relay that refuses one recipient for a while fails that delivery; a
// retry once the relay accepts again sends it exactly once, and never to
// the address that bounced hard.
func TestRetryResendsFailedDeliveriesOnce(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	rd := testredis.New(t)
	srv := smtptest.Start(t)
	seedAlumni(t, db, 6)
	var busy atomic.Bool
	busy.Store(true)
	srv.SetFault(func(stage smtptest.Stage, _ string, to []string) error {
		if stage != smtptest.StageRcpt {
			return nil
		}
		switch {
		case to[0] == "r1@example.jp" && busy.Load():
			return smtptest.Reply(451, "4.3.0", "mailbox busy")
		case to[0] == "r2@example.jp":
			return smtptest.Reply(550, "5.1.1", "no such user")
		}
		return nil
	})
	run := startRun(t, db, rd.URL, newsletter("news"))
	inProcess(t, db, rd.URL, srv.URL(), func(o *worker.Options) { o.MaxAttempts = 1 })
	waitRun(t, db, run.ID, 30*time.Second)
	waitDone(t, db, run.ID, 10*time.Second)
	var failed []string
	db.Select(&failed, `SELECT a.email FROM deliveries d JOIN alumni a ON a.id = d.alumni_id WHERE d.run_id = $1 AND d.state = 'failed' ORDER BY 1`, run.ID)
	if len(failed) != 2 || failed[0] != "r1@example.jp" || failed[1] != "r2@example.jp" {
		t.Fatalf("failed deliveries %v, want r1 (relay busy) and r2 (hard bounce)", failed)
	}

	busy.Store(false)
	res, err := runs.Retry(t.Context(), db.DB, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if res.Queued != 1 || res.Bounced != 1 || res.After != runs.StateSending {
		t.Fatalf("retry = %+v, want r1 queued, r2 skipped as bounced, run sending", res)
	}
	// Retrying again at once queues nothing twice.
	if res, err := runs.Retry(t.Context(), db.DB, run.ID); err != nil || res.Queued != 0 {
		t.Fatalf("second retry = %+v, %v; want nothing queued", res, err)
	}
	waitRun(t, db, run.ID, 30*time.Second)
	waitDone(t, db, run.ID, 10*time.Second)

	got := perRecipient(srv)
	if got["r1@example.jp"] != 1 || got["r2@example.jp"] != 0 || len(got) != 5 {
		t.Fatalf("messages per recipient %v; want r1 once after the retry, r2 never, 5 recipients", got)
	}
	var d struct {
		State    string `db:"state"`
		Attempts int    `db:"attempts"`
		Reply    string `db:"smtp_reply"`
	}
	db.Get(&d, `SELECT d.state, d.attempts, d.smtp_reply FROM deliveries d JOIN alumni a ON a.id = d.alumni_id WHERE a.email = 'r1@example.jp'`)
	if d.State != "sent" || d.Attempts != 1 || d.Reply == "" {
		t.Errorf("r1's delivery = %+v, want sent on the retry's first attempt with the relay's reply", d)
	}
	var n int
	db.Get(&n, `SELECT count(*) FROM deliveries WHERE run_id = $1`, run.ID)
	if n != 6 {
		t.Errorf("%d deliveries, want the same 6 rows", n)
	}
	// Nothing left to retry but the hard bounce.
	if res, _ := runs.Retry(t.Context(), db.DB, run.ID); res.Queued != 0 || res.Bounced != 1 || res.After != runs.StateDone {
		t.Errorf("final retry = %+v, want nothing queued and the run left done", res)
	}
}
