package worker_test

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/smtptest"
	"github.com/kizuna-alumni/kizuna/internal/testbin"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
	"github.com/kizuna-alumni/kizuna/internal/testredis"
	"github.com/kizuna-alumni/kizuna/worker"
)

// statusOf returns the status line of run runID of campaign id.
func statusOf(t testing.TB, db *testdb.DB, id string, runID int64) runs.RunStatus {
	t.Helper()
	st, err := runs.Status(t.Context(), db.DB, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range st {
		if r.ID == runID {
			return r
		}
	}
	t.Fatalf("no status for run %d", runID)
	return runs.RunStatus{}
}

// eventually polls cond every 50 ms until it holds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRelayOutageFailsNobody stops the relay in the middle of a run (the
// connection is refused) for longer than every delivery's attempts would
// last, then starts it again: nobody's delivery fails or is charged an
// attempt, campaign status says the run waits for the relay, the log says
// so a bounded number of times, and once the relay answers everyone gets
// the message exactly once.
func TestRelayOutageFailsNobody(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	rd := testredis.New(t)
	srv := smtptest.Start(t)
	seedAlumni(t, db, 60)
	var accepted atomic.Int32
	var stopOnce sync.Once
	stopped := make(chan struct{})
	srv.SetFault(func(stage smtptest.Stage, _ string, _ []string) error {
		if stage == smtptest.StageData && accepted.Add(1) > 15 {
			stopOnce.Do(func() { go func() { srv.Stop(); close(stopped) }() })
			return smtptest.ErrDrop
		}
		return nil
	})
	logs := &testbin.Buffer{}
	run := startRun(t, db, rd.URL, newsletter("outage"))
	inProcess(t, db, rd.URL, srv.URL(), func(o *worker.Options) {
		o.MaxAttempts = 2 // a charged attempt would fail deliveries at once
		o.RelayRetryBase, o.RelayRetryMax = 50*time.Millisecond, 200*time.Millisecond
		o.Log = slog.New(slog.NewTextHandler(logs, nil))
	})
	<-stopped
	srv.SetFault(nil)
	// Well past the attempts and several probes of the relay.
	eventually(t, 20*time.Second, "campaign status says the run waits for the relay", func() bool {
		st := statusOf(t, db, "outage", run.ID)
		return st.Hold != nil && st.Hold.Reason == runs.HoldRelay && strings.Contains(st.Hold.Detail, "does not answer")
	})
	time.Sleep(3 * time.Second)
	var failed, charged int
	db.Get(&failed, `SELECT count(*) FROM deliveries WHERE run_id = $1 AND state = 'failed'`, run.ID)
	db.Get(&charged, `SELECT count(*) FROM deliveries WHERE run_id = $1 AND state = 'pending' AND attempts > 1`, run.ID)
	if failed != 0 || charged != 0 {
		t.Fatalf("relay outage: %d deliveries failed, %d charged more than one attempt", failed, charged)
	}
	if n := len(logs.Lines("the relay is unavailable")); n < 1 || n > 4 {
		t.Errorf("the outage was logged %d times in a few seconds, want 1 to 4 (at most once a minute per worker)\n%s", n, logs.String())
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	waitRun(t, db, run.ID, 30*time.Second)
	// The one message dropped after DATA may have been delivered and
	// retried: that is the documented duplicate window; others are not.
	if dups := checkEveryone(t, srv, 60); dups > 1 {
		t.Fatalf("%d duplicates", dups)
	}
	if st := statusOf(t, db, "outage", run.ID); st.Hold != nil || st.Sent != 60 {
		t.Errorf("after the outage: hold %+v, sent %d of 60", st.Hold, st.Sent)
	}
	if len(logs.Lines("the relay answers again")) == 0 {
		t.Error("the end of the outage was not logged")
	}
}

// TestRelayAlertAfterAnOutageLastsTooLong: an ALERT is logged once the
// relay has been unreachable for Options.RelayAlertAfter.
func TestRelayAlertAfterAnOutageLastsTooLong(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	rd := testredis.New(t)
	srv := smtptest.Start(t)
	srv.Stop()
	seedAlumni(t, db, 5)
	logs := &testbin.Buffer{}
	startRun(t, db, rd.URL, newsletter("alert"))
	inProcess(t, db, rd.URL, srv.URL(), func(o *worker.Options) {
		o.RelayRetryBase, o.RelayRetryMax = 50*time.Millisecond, 100*time.Millisecond
		o.RelayAlertAfter = time.Second
		o.Log = slog.New(slog.NewTextHandler(logs, nil))
	})
	defer func() {
		if t.Failed() {
			var st []string
			db.Select(&st, `SELECT state || ' ' || smtp_reply FROM deliveries`)
			t.Log(logs.String(), st)
		}
	}()
	eventually(t, 15*time.Second, "an ALERT about the relay", func() bool {
		return len(logs.Lines("level=ERROR", "ALERT: the relay has not answered")) > 0
	})
	time.Sleep(time.Second)
	if n := len(logs.Lines("ALERT: the relay has not answered")); n != 1 {
		t.Errorf("the alert was logged %d times, want once", n)
	}
}

// TestSessionCapNeverPausesTheRun: a relay that ends every session after
// three messages with "421 4.7.0 Too many messages in this connection"
// gets everyone's message, once, and the run never pauses.
func TestSessionCapNeverPausesTheRun(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	rd := testredis.New(t)
	srv := smtptest.Start(t)
	srv.SetSessionLimit(3)
	seedAlumni(t, db, 40)
	run := startRun(t, db, rd.URL, newsletter("capped"))
	inProcess(t, db, rd.URL, srv.URL(), nil)
	waitRun(t, db, run.ID, 30*time.Second)
	if dups := checkEveryone(t, srv, 40); dups != 0 {
		t.Fatalf("%d duplicates", dups)
	}
	eventually(t, 10*time.Second, "the run is done", func() bool {
		r, _ := runs.Get(t.Context(), db, run.ID)
		return r.State == runs.StateDone
	})
	if r, _ := runs.Get(t.Context(), db, run.ID); r.PauseReason != "" {
		t.Fatalf("the run was paused: %q", r.PauseReason)
	}
	var charged int
	db.Get(&charged, `SELECT count(*) FROM deliveries WHERE run_id = $1 AND attempts <> 1`, run.ID)
	if charged != 0 {
		t.Errorf("%d deliveries used more than one attempt", charged)
	}
}

// TestSenderProblemTripsTheBreaker: a relay that refuses every message
// after DATA with "554 Message rejected: Email address is not verified"
// (Amazon SES's answer to an unverified sender) pauses the run with the
// reason instead of failing the audience; after resume, with the sender
// fixed, everyone gets the message once.
func TestSenderProblemTripsTheBreaker(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	rd := testredis.New(t)
	srv := smtptest.Start(t)
	domains := []string{"example.jp", "example.com", "example.net", "example.org"}
	testdb.AlumniSeries(t, db, testdb.AlumniOpts{N: 60, Like: testdb.Alumnus{FamilyName: "山田", GivenName: "太郎", Consent: true},
		Each: func(i int, a *testdb.Alumnus) { a.Email = fmt.Sprintf("r%d@%s", i, domains[i%4]) }})
	srv.SetFault(func(stage smtptest.Stage, _ string, _ []string) error {
		if stage == smtptest.StageData {
			return smtptest.Reply(554, "", "Message rejected: Email address is not verified. The following identities failed the check in region AP-NORTHEAST-1: alumni@example.co.jp")
		}
		return nil
	})
	logs := &testbin.Buffer{}
	run := startRun(t, db, rd.URL, newsletter("unverified"))
	inProcess(t, db, rd.URL, srv.URL(), func(o *worker.Options) {
		o.Log = slog.New(slog.NewTextHandler(logs, nil))
	})
	eventually(t, 20*time.Second, "the run pauses", func() bool {
		r, _ := runs.Get(t.Context(), db, run.ID)
		return r.State == runs.StatePaused
	})
	time.Sleep(time.Second) // in-flight chunks record what they had
	r, _ := runs.Get(t.Context(), db, run.ID)
	if !strings.Contains(r.PauseReason, "not verified") || !strings.Contains(r.PauseReason, "sender") {
		t.Errorf("pause reason %q does not say the sender is refused", r.PauseReason)
	}
	if len(logs.Lines("level=ERROR", "ALERT: pausing run")) == 0 {
		t.Error("no ERROR alert for the pause")
	}
	var failed int
	db.Get(&failed, `SELECT count(*) FROM deliveries WHERE run_id = $1 AND state = 'failed'`, run.ID)
	if failed > 2*worker.DefaultBreakerFailures {
		t.Errorf("%d deliveries failed before the breaker tripped", failed)
	}
	srv.SetFault(nil)
	if err := runs.Resume(t.Context(), db.DB, run.ID); err != nil {
		t.Fatal(err)
	}
	waitRun(t, db, run.ID, 30*time.Second)
	got := perRecipient(srv)
	if len(got) != 60 {
		t.Fatalf("after resume %d of 60 alumni got the message", len(got))
	}
	for to, n := range got {
		if n != 1 {
			t.Errorf("%s got %d copies", to, n)
		}
	}
}

// TestOneDomainRefusingEveryoneIsNotTheSender: the same refusal from one
// recipient domain only is that domain's policy: deliveries fail, the run
// does not pause, and every failure is logged with the relay's reply, a
// bounded number of lines.
func TestOneDomainRefusingEveryoneIsNotTheSender(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	rd := testredis.New(t)
	srv := smtptest.Start(t)
	seedAlumni(t, db, 60) // all @example.jp
	srv.SetFault(func(stage smtptest.Stage, _ string, _ []string) error {
		if stage == smtptest.StageRcpt {
			return smtptest.Reply(550, "5.7.1", "Message rejected by recipient policy")
		}
		return nil
	})
	logs := &testbin.Buffer{}
	run := startRun(t, db, rd.URL, newsletter("policy"))
	inProcess(t, db, rd.URL, srv.URL(), func(o *worker.Options) {
		o.Log = slog.New(slog.NewTextHandler(logs, nil))
	})
	waitRun(t, db, run.ID, 30*time.Second)
	// The run is marked done just after its last delivery is recorded.
	eventually(t, 10*time.Second, "the run is done, not paused", func() bool {
		r, _ := runs.Get(t.Context(), db, run.ID)
		return r.State == runs.StateDone
	})
	st := statusOf(t, db, "policy", run.ID)
	if st.Failed != 60 {
		t.Errorf("failed %d, want 60", st.Failed)
	}
	n := len(logs.Lines("delivery failed", "delivery_id=", "reply=", "recipient policy", "campaign_id=policy", "run="))
	if n == 0 || n > 21 {
		t.Errorf("%d log lines for 60 failures, want 1 to 21 (rate-limited)\n%s", n, logs.String())
	}
}

// TestQuotaCountsAcceptedMessages: a daily quota of 5 with a relay that
// defers the first messages (greylisting) still lets 5 messages through;
// the run then waits for the quota and campaign status says until when.
func TestQuotaCountsAcceptedMessages(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	rd := testredis.New(t)
	srv := smtptest.Start(t)
	seedAlumni(t, db, 12)
	var deferred atomic.Int32
	srv.SetFault(func(stage smtptest.Stage, _ string, _ []string) error {
		if stage == smtptest.StageRcpt && deferred.Add(1) <= 6 {
			return smtptest.Reply(451, "4.7.1", "Greylisted, try again later")
		}
		return nil
	})
	c := newsletter("quota")
	c.Throttle.PerDay = 5
	run := startRun(t, db, rd.URL, c)
	logs := &testbin.Buffer{}
	inProcess(t, db, rd.URL, srv.URL(), func(o *worker.Options) {
		o.Log = slog.New(slog.NewTextHandler(logs, nil))
	})
	defer func() {
		if t.Failed() {
			var st []string
			db.Select(&st, `SELECT state || ' ' || attempts || ' ' || not_before || ' ' || smtp_reply FROM deliveries`)
			t.Log(logs.String(), strings.Join(st, "\n"))
		}
	}()
	eventually(t, 30*time.Second, fmt.Sprintf("5 messages accepted under a quota of 5 (accepted %d)", srv.Accepted()), func() bool {
		return srv.Accepted() == 5
	})
	eventually(t, 10*time.Second, "campaign status says the quota holds the run", func() bool {
		st := statusOf(t, db, "quota", run.ID)
		return st.Hold != nil && st.Hold.Reason == runs.HoldQuota && time.Until(st.Hold.Until) > 20*time.Hour
	})
	time.Sleep(time.Second)
	if n := srv.Accepted(); n != 5 {
		t.Fatalf("accepted %d, quota 5", n)
	}
}
