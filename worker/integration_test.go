package worker_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/smtptest"
	"github.com/kizuna-alumni/kizuna/internal/store"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
	"github.com/kizuna-alumni/kizuna/internal/testredis"
)

func TestSendsEveryDeliveryOnceAndRecordsIt(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	rd := testredis.New(t)
	srv := smtptest.Start(t)
	seedAlumni(t, db, 120)
	run := startRun(t, db, rd.URL, newsletter("news"))
	inProcess(t, db, rd.URL, srv.URL(), nil)
	waitRun(t, db, run.ID, 30*time.Second)
	if dups := checkEveryone(t, srv, 120); dups != 0 {
		t.Errorf("%d duplicates", dups)
	}
	var bad int
	db.Get(&bad, `SELECT count(*) FROM deliveries WHERE run_id = $1 AND (state <> 'sent' OR message_id IS NULL OR sent_at IS NULL OR smtp_reply = '' OR attempts <> 1)`, run.ID)
	if bad != 0 {
		t.Errorf("%d deliveries not recorded as sent once with Message-ID, time and reply", bad)
	}
	// Each recorded Message-ID is the one the recipient got.
	ids := map[string]bool{}
	for _, m := range srv.Messages() {
		ids[m.Header("Message-ID")] = true
	}
	var mids []string
	db.Select(&mids, `SELECT '<' || message_id || '>' FROM deliveries WHERE run_id = $1`, run.ID)
	for _, id := range mids {
		if !ids[id] {
			t.Errorf("recorded Message-ID %s was not sent", id)
			break
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, _ := runs.Get(t.Context(), db, run.ID)
		if r.State == runs.StateDone && r.FinishedAt != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run state %s, want done", r.State)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestHardBounceSuppressesTheAddress(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	rd := testredis.New(t)
	srv := smtptest.Start(t)
	seedAlumni(t, db, 10)
	srv.SetFault(func(stage smtptest.Stage, _ string, to []string) error {
		if stage == smtptest.StageRcpt && to[0] == "r3@example.jp" {
			return smtptest.Reply(550, "5.1.1", "no such user")
		}
		return nil
	})
	run := startRun(t, db, rd.URL, newsletter("news"))
	inProcess(t, db, rd.URL, srv.URL(), nil)
	waitRun(t, db, run.ID, 30*time.Second)
	var st struct {
		Delivery string `db:"delivery"`
		Alumnus  string `db:"alumnus"`
		Reply    string `db:"smtp_reply"`
		Events   int    `db:"events"`
	}
	if err := db.Get(&st, `SELECT d.state AS delivery, a.status AS alumnus, d.smtp_reply,
		(SELECT count(*) FROM delivery_events e WHERE e.delivery_id = d.id AND e.kind = 'bounce') AS events
		FROM deliveries d JOIN alumni a ON a.id = d.alumni_id WHERE a.email = 'r3@example.jp'`); err != nil {
		t.Fatal(err)
	}
	if st.Delivery != "failed" || st.Alumnus != "bounced" || st.Events != 1 {
		t.Fatalf("after 5.1.1: %+v; want delivery failed, alumnus bounced, one bounce event", st)
	}
	var suppressed bool
	db.Get(&suppressed, `SELECT EXISTS (SELECT 1 FROM suppressions WHERE email_hash = $1 AND reason = 'bounced')`, store.HashEmail("r3@example.jp"))
	if !suppressed {
		t.Fatal("bounced address not in the suppression list")
	}
	if got := perRecipient(srv); len(got) != 9 {
		t.Fatalf("%d recipients got mail, want the other 9", len(got))
	}
}

func TestSuppressionIsCheckedAtSendTime(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	rd := testredis.New(t)
	srv := smtptest.Start(t)
	seedAlumni(t, db, 10)
	run := startRun(t, db, rd.URL, newsletter("news"))
	// After expansion, one person unsubscribes and another's address is
	// suppressed (e.g. forgotten elsewhere).
	db.MustExec(`UPDATE alumni SET status = 'unsubscribed' WHERE email = 'r1@example.jp'`)
	db.MustExec(`INSERT INTO suppressions (email_hash, reason) VALUES ($1, 'unsubscribed')`, store.HashEmail("r2@example.jp"))
	inProcess(t, db, rd.URL, srv.URL(), nil)
	waitRun(t, db, run.ID, 30*time.Second)
	got := perRecipient(srv)
	if got["r1@example.jp"]+got["r2@example.jp"] != 0 || len(got) != 8 {
		t.Fatalf("mail went to %v; r1 and r2 must be skipped", got)
	}
	var n int
	db.Get(&n, `SELECT count(*) FROM deliveries WHERE run_id = $1 AND state = 'suppressed' AND attempts = 0`, run.ID)
	if n != 2 {
		t.Fatalf("%d deliveries recorded as suppressed without an attempt, want 2", n)
	}
}

func TestSenderRejectionPausesTheRunWithoutFailingRecipients(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	rd := testredis.New(t)
	srv := smtptest.Start(t)
	seedAlumni(t, db, 30)
	srv.SetFault(func(stage smtptest.Stage, _ string, _ []string) error {
		if stage == smtptest.StageMail {
			return smtptest.Reply(535, "5.7.8", "authentication credentials invalid")
		}
		return nil
	})
	run := startRun(t, db, rd.URL, newsletter("news"))
	inProcess(t, db, rd.URL, srv.URL(), nil)
	deadline := time.Now().Add(20 * time.Second)
	var r runs.Run
	for {
		r, _ = runs.Get(t.Context(), db, run.ID)
		if r.State == runs.StatePaused || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r.State != runs.StatePaused {
		t.Fatalf("run state %s, want paused", r.State)
	}
	if r.PauseReason == "" {
		t.Error("paused run has no reason")
	}
	time.Sleep(500 * time.Millisecond) // let the in-flight chunks release
	var bad int
	db.Get(&bad, `SELECT count(*) FROM deliveries WHERE run_id = $1 AND (state IN ('failed', 'suppressed', 'sent') OR attempts <> 0)`, run.ID)
	if bad != 0 {
		t.Fatalf("%d deliveries were failed, suppressed or charged an attempt by the sender's rejection", bad)
	}
	var bounced int
	db.Get(&bounced, `SELECT count(*) FROM alumni WHERE status <> 'active'`)
	if bounced != 0 {
		t.Fatalf("%d alumni were marked by the sender's rejection", bounced)
	}
	// Fixed relay, resumed run: everyone gets the message.
	srv.SetFault(nil)
	if err := runs.Resume(t.Context(), db.DB, run.ID); err != nil {
		t.Fatal(err)
	}
	waitRun(t, db, run.ID, 30*time.Second)
	if dups := checkEveryone(t, srv, 30); dups != 0 {
		t.Fatalf("%d duplicates after resume", dups)
	}
}

func TestThrottledDeliveriesWaitWithoutUsingAnAttempt(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	rd := testredis.New(t)
	srv := smtptest.Start(t)
	seedAlumni(t, db, 40)
	c := newsletter("slow")
	c.Throttle.PerMinute = 7
	run := startRun(t, db, rd.URL, c)
	inProcess(t, db, rd.URL, srv.URL(), nil)
	// Wait until the minute's budget is spent and every other delivery
	// has been looked at and put back.
	deadline := time.Now().Add(20 * time.Second)
	for {
		var waiting int
		db.Get(&waiting, `SELECT count(*) FROM deliveries WHERE run_id = $1 AND state = 'pending' AND not_before > now() + interval '1 second'`, run.ID)
		if srv.Accepted() >= 7 && waiting == 40-7 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("accepted %d, waiting %d; want 7 sent and 33 waiting", srv.Accepted(), waiting)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	if n := srv.Accepted(); n != 7 {
		t.Fatalf("relay accepted %d messages within the minute, limit 7", n)
	}
	var charged int
	db.Get(&charged, `SELECT count(*) FROM deliveries WHERE run_id = $1 AND state = 'pending' AND attempts <> 0`, run.ID)
	if charged != 0 {
		t.Fatalf("%d throttled deliveries were charged an attempt", charged)
	}
}

func TestOutsideTheWindowDeliveriesWaitForItToOpen(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	rd := testredis.New(t)
	srv := smtptest.Start(t)
	seedAlumni(t, db, 10)
	db.MustExec(`UPDATE alumni SET timezone = 'America/New_York' WHERE email = 'r0@example.jp'`)
	// A window opening three hours from now (Tokyo time), one hour long.
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	now := time.Now().In(tokyo)
	start := (now.Hour()*60 + now.Minute() + 180) % 1440
	c := newsletter("later")
	c.Schedule.Window = &campaigns.Window{StartMinute: start, EndMinute: (start + 60) % 1440}
	run := startRun(t, db, rd.URL, c)
	inProcess(t, db, rd.URL, srv.URL(), nil)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var waiting int
		db.Get(&waiting, `SELECT count(*) FROM deliveries WHERE run_id = $1 AND state = 'pending' AND attempts = 0 AND not_before > now() + interval '2 hours'`, run.ID)
		if waiting == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 10 deliveries wait for the window", waiting)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := srv.Accepted(); n != 0 {
		t.Fatalf("%d messages sent outside the window", n)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		r, _ := runs.Get(t.Context(), db, run.ID)
		if r.State == runs.StateWaiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run state %s while every delivery waits for the window, want waiting", r.State)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// campaign status says why and until when, in the recipient's zone.
	st, err := runs.Status(t.Context(), db.DB, "later")
	if err != nil || len(st) != 1 {
		t.Fatal(st, err)
	}
	if h := st[0].Hold; h == nil || h.Reason != runs.HoldWindow || h.Detail != "Asia/Tokyo" ||
		h.Until.Sub(time.Now().Add(3*time.Hour)) > 2*time.Minute || time.Now().Add(3*time.Hour).Sub(h.Until) > 2*time.Minute {
		t.Errorf("status hold %+v, want the window opening in about 3 h in Asia/Tokyo", st[0].Hold)
	}
	var nb []time.Time
	db.Select(&nb, `SELECT d.not_before FROM deliveries d JOIN alumni a ON a.id = d.alumni_id WHERE d.run_id = $1 AND a.timezone = 'Asia/Tokyo' ORDER BY 1`, run.ID)
	want := time.Now().Add(3 * time.Hour).Truncate(time.Minute)
	for _, at := range nb {
		if at.Sub(want) > 2*time.Minute || want.Sub(at) > 2*time.Minute {
			t.Fatalf("Tokyo delivery waits until %s, want about %s (when the window opens)", at, want)
		}
	}
}

func TestReconcilerFinishesAnInterruptedExpansion(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	rd := testredis.New(t)
	srv := smtptest.Start(t)
	alumni := seedAlumni(t, db, 30)
	ctx := t.Context()
	v, err := runs.RegisterVersion(ctx, db.DB, newsletter("news"))
	if err != nil {
		t.Fatal(err)
	}
	run, _, err := runs.Create(ctx, db.DB, v, "manual:crashed", runs.KindSend)
	if err != nil {
		t.Fatal(err)
	}
	// The expander wrote ten deliveries, marked them queued, and died
	// before enqueueing anything or finishing.
	testdb.Deliveries(t, db, testdb.DeliveriesOpts{Run: run.ID, Alumni: alumni[:10], QueuedUntil: time.Now().Add(time.Hour)})
	inProcess(t, db, rd.URL, srv.URL(), nil)
	waitRun(t, db, run.ID, 30*time.Second)
	if dups := checkEveryone(t, srv, 30); dups != 0 {
		t.Fatalf("%d duplicates", dups)
	}
	r, _ := runs.Get(ctx, db, run.ID)
	if r.ExpandedAt == nil {
		t.Fatal("expansion not marked finished")
	}
}

// TestLegacyCarrierAddressesAreDelivered: docomo and au addresses from
// before 2009 (consecutive dots, a dot before @) are sent with the local
// part quoted in RCPT TO (RFC 5321 §4.1.2) and reach the relay.
func TestLegacyCarrierAddressesAreDelivered(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	rd := testredis.New(t)
	srv := smtptest.Start(t)
	testdb.Alumni(t, db,
		testdb.Alumnus{Email: "taro..yamada@docomo.ne.jp", FamilyName: "山田", GivenName: "太郎", Consent: true},
		testdb.Alumnus{Email: "hanako.@ezweb.ne.jp", FamilyName: "佐藤", GivenName: "花子", Consent: true},
		testdb.Alumnus{Email: "plain@example.jp", FamilyName: "鈴木", GivenName: "一郎", Consent: true})
	run := startRun(t, db, rd.URL, newsletter("legacy"))
	inProcess(t, db, rd.URL, srv.URL(), nil)
	waitRun(t, db, run.ID, 30*time.Second)
	var sent int
	db.Get(&sent, `SELECT count(*) FROM deliveries WHERE run_id = $1 AND state = 'sent'`, run.ID)
	if sent != 3 {
		t.Fatalf("sent %d of 3", sent)
	}
	cmds := strings.Join(srv.Commands(), "\n")
	for _, want := range []string{`RCPT TO:<"taro..yamada"@docomo.ne.jp>`, `RCPT TO:<"hanako."@ezweb.ne.jp>`, `RCPT TO:<plain@example.jp>`} {
		if !strings.Contains(cmds, want) {
			t.Errorf("the relay did not get %s:\n%s", want, cmds)
		}
	}
}
