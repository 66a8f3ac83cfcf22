package runs_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/store"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
)

// doneRunWithFailures makes a done run of six alumni a0..a5@example.jp:
// a0 sent; a1 failed (4xx exhausted); a2 hard-bounced (failed, bounce
// event, status bounced, suppressed); a3 failed then unsubscribed; a4
// failed then suppressed; a5 failed then forgotten.
func doneRunWithFailures(t *testing.T, db *testdb.DB) runs.Run {
	t.Helper()
	ctx := context.Background()
	addAlumni(t, db, 6)
	v, err := runs.RegisterVersion(ctx, db.DB, newsletter("news"))
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := runs.Create(ctx, db.DB, v, "manual:1", runs.KindSend)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runs.ExpandEach(ctx, db.DB, r.ID, func(context.Context, runs.Run, int64, []int64) error { return nil }); err != nil {
		t.Fatal(err)
	}
	mustExec(t, db, `UPDATE deliveries d SET state = 'sent', sent_at = now(), smtp_reply = '250 2.0.0 OK', attempts = 1
		FROM alumni a WHERE a.id = d.alumni_id AND a.email = 'a0@example.jp'`)
	mustExec(t, db, `UPDATE deliveries d SET state = 'failed', attempts = 8, smtp_reply = '451 4.3.0 try again later'
		FROM alumni a WHERE a.id = d.alumni_id AND a.email <> 'a0@example.jp'`)
	mustExec(t, db, `UPDATE deliveries d SET smtp_reply = '550 5.1.1 no such user', attempts = 1
		FROM alumni a WHERE a.id = d.alumni_id AND a.email = 'a2@example.jp'`)
	mustExec(t, db, `INSERT INTO delivery_events (delivery_id, kind, classification, detail)
		SELECT d.id, 'bounce', 'smtp', '{"type": "hard"}' FROM deliveries d JOIN alumni a ON a.id = d.alumni_id WHERE a.email = 'a2@example.jp'`)
	mustExec(t, db, `UPDATE alumni SET status = 'bounced' WHERE email = 'a2@example.jp'`)
	mustExec(t, db, `UPDATE alumni SET status = 'unsubscribed' WHERE email = 'a3@example.jp'`)
	mustExec(t, db, `INSERT INTO suppressions (email_hash, reason) VALUES ($1, 'bounced'), ($2, 'unsubscribed'), ($3, 'unsubscribed')`,
		store.HashEmail("a2@example.jp"), store.HashEmail("a3@example.jp"), store.HashEmail("a4@example.jp"))
	mustExec(t, db, `INSERT INTO suppressions (email_hash, reason) VALUES ($1, 'forgotten')`, store.HashEmail("a5@example.jp"))
	mustExec(t, db, `UPDATE alumni SET status = 'forgotten', email = NULL WHERE email = 'a5@example.jp'`)
	mustExec(t, db, `UPDATE runs SET state = 'done', finished_at = now() WHERE id = $1`, r.ID)
	return r
}

func TestFailuresListsFailedDeliveries(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	ctx := context.Background()
	r := doneRunWithFailures(t, db)
	got, err := runs.Failures(ctx, db.DB, r.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 {
		t.Fatalf("%d failures, want 5: %+v", len(got), got)
	}
	byEmail := map[string]runs.Failure{}
	forgotten := 0
	for _, f := range got {
		if f.Email == nil {
			forgotten++
			continue
		}
		byEmail[*f.Email] = f
		if f.At.IsZero() || f.At.Location() != time.UTC || time.Since(f.At) > time.Hour {
			t.Errorf("%s: at = %v, want the failure time in UTC", *f.Email, f.At)
		}
	}
	if forgotten != 1 {
		t.Errorf("%d failures without address, want 1 (the forgotten person)", forgotten)
	}
	if f := byEmail["a2@example.jp"]; !f.HardBounce || f.Reply != "550 5.1.1 no such user" || f.Attempts != 1 {
		t.Errorf("a2 = %+v, want a hard bounce with its reply", f)
	}
	if f := byEmail["a1@example.jp"]; f.HardBounce || f.Reply != "451 4.3.0 try again later" || f.Attempts != 8 {
		t.Errorf("a1 = %+v, want a soft failure after 8 attempts", f)
	}
	if _, ok := byEmail["a0@example.jp"]; ok {
		t.Error("a sent delivery is listed as failed")
	}
	if two, _ := runs.Failures(ctx, db.DB, r.ID, 2); len(two) != 2 {
		t.Errorf("limit 2 returned %d", len(two))
	}
}

func TestRetryQueuesExactlyTheRetryableFailuresOnce(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	ctx := context.Background()
	r := doneRunWithFailures(t, db)
	var before int
	db.Get(&before, `SELECT count(*) FROM deliveries`)

	res, err := runs.Retry(ctx, db.DB, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := runs.RetryResult{Queued: 1, Bounced: 1, Unsubscribed: 1, Suppressed: 2, Before: runs.StateDone, After: runs.StateSending}
	if res != want {
		t.Fatalf("retry = %+v, want %+v", res, want)
	}
	var d struct {
		Email      string     `db:"email"`
		State      string     `db:"state"`
		Attempts   int        `db:"attempts"`
		Queued     *time.Time `db:"queued_until"`
		Reply      string     `db:"smtp_reply"`
		NotBefore  time.Time  `db:"not_before"`
		DBNow      time.Time  `db:"db_now"`
		RunState   string     `db:"run_state"`
		RunFinish  *time.Time `db:"finished_at"`
		FailedLeft int        `db:"failed_left"`
	}
	if err := db.Get(&d, `SELECT a.email, d.state, d.attempts, d.queued_until, d.smtp_reply, d.not_before, now() AS db_now,
		r.state AS run_state, r.finished_at,
		(SELECT count(*) FROM deliveries WHERE run_id = r.id AND state = 'failed') AS failed_left
		FROM deliveries d JOIN alumni a ON a.id = d.alumni_id JOIN runs r ON r.id = d.run_id
		WHERE d.state = 'pending'`); err != nil {
		t.Fatal(err)
	}
	if d.Email != "a1@example.jp" || d.Attempts != 0 || d.Queued != nil || d.NotBefore.After(d.DBNow) {
		t.Errorf("queued delivery = %+v, want a1, 0 attempts, due now, no task yet", d)
	}
	if d.Reply != "451 4.3.0 try again later" {
		t.Errorf("the relay's last reply was not kept: %q", d.Reply)
	}
	if d.RunState != runs.StateSending || d.RunFinish != nil || d.FailedLeft != 4 {
		t.Errorf("run %s (finished %v), %d failed left; want sending, not finished, 4", d.RunState, d.RunFinish, d.FailedLeft)
	}

	// Again while the first retry's delivery is still pending: nothing new.
	res, err = runs.Retry(ctx, db.DB, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if res.Queued != 0 || res.Skipped() != 4 || res.After != runs.StateSending {
		t.Errorf("second retry = %+v, want nothing queued and the same 4 skipped", res)
	}
	var after int
	db.Get(&after, `SELECT count(*) FROM deliveries`)
	if after != before {
		t.Errorf("retry created deliveries: %d → %d", before, after)
	}

	// It fails again and the run finishes: a third retry picks it up.
	mustExec(t, db, `UPDATE deliveries SET state = 'failed', attempts = 8 WHERE state = 'pending'`)
	if ok, _ := runs.FinishIfDone(ctx, db.DB, r.ID); !ok {
		t.Fatal("run not done")
	}
	if res, _ := runs.Retry(ctx, db.DB, r.ID); res.Queued != 1 || res.After != runs.StateSending {
		t.Errorf("retry after a new failure = %+v, want 1 queued", res)
	}
}

func TestRetryRefusesPausedAndCancelledRuns(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	ctx := context.Background()
	r := doneRunWithFailures(t, db)
	for _, state := range []string{runs.StatePaused, runs.StateCancelled} {
		mustExec(t, db, `UPDATE runs SET state = $2 WHERE id = $1`, r.ID, state)
		res, err := runs.Retry(ctx, db.DB, r.ID)
		if !errors.Is(err, runs.ErrState) || res.Queued != 0 {
			t.Errorf("%s run: %+v, %v; want ErrState", state, res, err)
		}
		var pending int
		db.Get(&pending, `SELECT count(*) FROM deliveries WHERE state = 'pending'`)
		if pending != 0 {
			t.Errorf("%s run: %d deliveries queued", state, pending)
		}
	}
	if _, err := runs.Retry(ctx, db.DB, 987654); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown run: %v", err)
	}
	// An active run keeps its state and sends the retried delivery.
	mustExec(t, db, `UPDATE runs SET state = 'waiting', finished_at = NULL WHERE id = $1`, r.ID)
	if res, err := runs.Retry(ctx, db.DB, r.ID); err != nil || res.Queued != 1 || res.After != runs.StateWaiting {
		t.Errorf("waiting run: %+v, %v", res, err)
	}
}

// A retry that commits while FinishIfDone waits for the run row must not
// leave its deliveries pending in a run marked done (no worker would send
// them): FinishIfDone's check was made before the retry committed.
func TestFinishIfDoneDoesNotCloseARunARetryReopened(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	ctx := context.Background()
	r := doneRunWithFailures(t, db)
	mustExec(t, db, `UPDATE runs SET state = 'sending', finished_at = NULL WHERE id = $1`, r.ID)

	// What Retry does, held open: lock the run, put a failed delivery back.
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT state FROM runs WHERE id = $1 FOR UPDATE`, r.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE deliveries d SET state = 'pending', attempts = 0 FROM alumni a
		WHERE a.id = d.alumni_id AND a.email = 'a1@example.jp'`); err != nil {
		t.Fatal(err)
	}
	type outcome struct {
		done bool
		err  error
	}
	finished := make(chan outcome, 1)
	go func() {
		done, err := runs.FinishIfDone(ctx, db.DB, r.ID)
		finished <- outcome{done, err}
	}()
	// Wait until FinishIfDone is blocked on the run row.
	for waiting := false; !waiting; {
		if err := db.Get(&waiting, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%SET state = ''done''%')`); err != nil {
			t.Fatal(err)
		}
		select {
		case o := <-finished:
			t.Fatalf("FinishIfDone returned without waiting for the run row: %+v", o)
		default:
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	o := <-finished
	if o.err != nil {
		t.Fatal(o.err)
	}
	got, _ := runs.Get(ctx, db.DB, r.ID)
	if o.done || !got.Active() {
		t.Fatalf("FinishIfDone = %v, run %s: the retried delivery is pending in a run no worker sends", o.done, got.State)
	}
}
