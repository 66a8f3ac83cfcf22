package inbound

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
	"github.com/kizuna-alumni/kizuna/internal/token"
)

// senderFix is a sent run of a newsletter to alumni at several domains,
// and a Processor whose log is kept.
type senderFix struct {
	*actFix
	run        runs.Run
	deliveries map[string]int64 // by address
	log        *safeBuffer
}

// newSenderFix sends run 1 of campaign "news" to perDomain alumni at each
// of domains (u0@domain, u1@domain, …).
func newSenderFix(t *testing.T, perDomain int, domains ...string) *senderFix {
	t.Helper()
	f := &senderFix{actFix: newActFix(t), deliveries: map[string]int64{}, log: &safeBuffer{}}
	p, err := New(Options{DB: f.db.DB, Signer: f.signer, Address: testInbound, Log: slog.New(slog.NewTextHandler(f.log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	f.p = p
	var rows []testdb.Alumnus
	var emails []string
	for _, d := range domains {
		for i := range perDomain {
			e := fmt.Sprintf("u%d@%s", i, d)
			rows = append(rows, testdb.Alumnus{Email: e, FamilyName: "卒業生", Consent: true})
			emails = append(emails, e)
		}
	}
	f.alumni = testdb.Alumni(t, f.db, rows...)
	ids := f.send(t, newsletter("news"), "o1")
	for i, e := range emails {
		f.deliveries[e] = ids[i]
	}
	runsOf, err := runs.ListRuns(t.Context(), f.db.DB, "news")
	if err != nil || len(runsOf) != 1 {
		t.Fatalf("runs %v, %v", runsOf, err)
	}
	f.run = runsOf[0]
	if !f.run.Active() {
		t.Fatalf("run %s before any bounce", f.run.State)
	}
	return f
}

// dmarcBounce is Gmail's DSN (RFC 3464) for a message to addr that it
// refused over the sender's DMARC policy, with a queue id of its own.
func dmarcBounce(addr string, n int) string {
	return fmt.Sprintf(`From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: reply@in.example.co.jp
Auto-Submitted: auto-replied
Message-ID: <dmarc%d.GMR@mx.google.com>
Subject: Delivery Status Notification (Failure)
MIME-Version: 1.0
Content-Type: multipart/report; boundary="b"; report-type=delivery-status

--b
Content-Type: text/plain; charset="UTF-8"

Your message to %[2]s has been blocked.

--b
Content-Type: message/delivery-status

Reporting-MTA: dns; googlemail.com

Final-Recipient: rfc822; %[2]s
Action: failed
Status: 5.7.26
Diagnostic-Code: smtp; 550-5.7.26 Unauthenticated email from example.co.jp is not accepted due to
 550-5.7.26 domain's DMARC policy. To learn about the DMARC initiative, go to
 550 5.7.26  https://support.google.com/mail/?p=DmarcRejection %[1]dbe03b00d2f7-b2f5si%[1]d.345 - gsmtp

--b--
`, n, addr)
}

// userUnknown is a DSN for addr that does not exist (5.1.1, hard).
func userUnknown(addr string, n int) string {
	return fmt.Sprintf(`From: Mail Delivery Subsystem <mailer-daemon@example.net>
To: reply@in.example.co.jp
Message-ID: <unknown%d@example.net>
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; boundary="b"; report-type=delivery-status

--b
Content-Type: text/plain

The mail could not be delivered.

--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; %[2]s
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <%[2]s>: Recipient address rejected: User unknown

--b--
`, n, addr)
}

// bounce stores raw as received for addr's delivery (its VERP address)
// and processes it as the intake does; it returns what the message's
// result says was done.
func (f *senderFix) bounce(t *testing.T, addr, raw string) []string {
	t.Helper()
	did, _ := f.bounceID(t, addr, raw)
	return did
}

// bounceID is bounce, also returning the stored message's id.
func (f *senderFix) bounceID(t *testing.T, addr, raw string) ([]string, int64) {
	t.Helper()
	m := f.store(t, strings.ReplaceAll(raw, "\n", "\r\n"), f.addr(f.deliveries[addr], token.Bounce))
	if err := f.p.Process(t.Context(), m.ID); err != nil {
		t.Fatal(err)
	}
	var did []string
	if err := f.db.SelectContext(t.Context(), &did,
		`SELECT jsonb_array_elements_text(result->'did') FROM inbound_messages WHERE id = $1`, m.ID); err != nil {
		t.Fatal(err)
	}
	return did, m.ID
}

func (f *senderFix) runNow(t *testing.T) runs.Run {
	t.Helper()
	r, err := runs.Get(t.Context(), f.db.DB, f.run.ID)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (f *senderFix) bounced(t *testing.T) int64 {
	t.Helper()
	st, err := runs.Status(t.Context(), f.db.DB, "news")
	if err != nil || len(st) != 1 {
		t.Fatalf("status %v, %v", st, err)
	}
	return st[0].Bounced
}

// Sender-side bounces for 9 deliveries across 3 domains leave the run
// sending; the 10th pauses it with the reply as the reason and one ALERT.
// The deliveries stay sent (nothing is sent again), nobody is suppressed,
// and the run's bounced count does not move. Processing the 10th again
// and, after HR resumes, a second bounce of the 10th delivery and an
// 11th delivery's pause nothing: only the first crossing does.
func TestSenderBouncesPauseTheRunAtTheTenth(t *testing.T) {
	t.Parallel()
	f := newSenderFix(t, 4, "a.example.jp", "b.example.com", "c.example.org")
	order := []string{
		"u0@a.example.jp", "u0@b.example.com", "u0@c.example.org",
		"u1@a.example.jp", "u1@b.example.com", "u1@c.example.org",
		"u2@a.example.jp", "u2@b.example.com", "u2@c.example.org",
	}
	for i, addr := range order {
		did := f.bounce(t, addr, dmarcBounce(addr, i))
		if !slices.Contains(did, DidSenderSide) || slices.Contains(did, DidSenderPaused) {
			t.Fatalf("bounce %d: did %v", i+1, did)
		}
	}
	if r := f.runNow(t); !r.Active() {
		t.Fatalf("after 9 sender-side bounces across 3 domains the run is %s (%s)", r.State, r.PauseReason)
	}
	if strings.Contains(f.log.String(), "ALERT") {
		t.Fatalf("ALERT before the threshold:\n%s", f.log)
	}

	tenth := dmarcBounce("u3@a.example.jp", 10)
	did, tenthID := f.bounceID(t, "u3@a.example.jp", tenth)
	if !slices.Contains(did, DidSenderPaused) {
		t.Fatalf("10th: did %v", did)
	}
	r := f.runNow(t)
	if r.State != runs.StatePaused {
		t.Fatalf("after the 10th the run is %s", r.State)
	}
	if !strings.HasPrefix(r.PauseReason, "the recipients' servers reject the sender: 550 5.7.26 Unauthenticated email from example.co.jp "+
		"is not accepted due to domain's DMARC policy. To learn about the DMARC initiative, go to https://support.google.com/mail/?p=DmarcRejection ") ||
		!strings.Contains(r.PauseReason, "kizuna campaign resume news") {
		t.Errorf("pause reason %q", r.PauseReason)
	}
	if n := strings.Count(f.log.String(), "ALERT"); n != 1 || !strings.Contains(f.log.String(), "check SPF/DKIM/DMARC") {
		t.Errorf("%d ALERT lines:\n%s", n, f.log)
	}
	if n := f.count(t, `SELECT count(*) FROM deliveries WHERE run_id = $1 AND state <> 'sent'`, f.run.ID); n != 0 {
		t.Errorf("%d deliveries no longer sent", n)
	}
	if n := f.count(t, `SELECT count(*) FROM suppressions`); n != 0 {
		t.Errorf("%d suppressions", n)
	}
	if n := f.count(t, `SELECT count(*) FROM delivery_events WHERE kind = 'bounce' AND detail->>'type' = 'sender'
		AND (detail->>'sender_side')::bool AND detail->>'status' = '5.7.26' AND detail ? 'inbound'`); n != 10 {
		t.Errorf("%d sender-side bounce events, want 10", n)
	}
	if b := f.bounced(t); b != 0 {
		t.Errorf("bounced = %d, want 0", b)
	}

	// The same message again (Reprocess), then HR resumes and an 11th
	// comes back: the run stays as HR left it.
	if _, err := f.db.ExecContext(t.Context(), `UPDATE inbound_messages SET processed_at = NULL WHERE id = $1`, tenthID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.p.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := runs.Resume(t.Context(), f.db.DB, f.run.ID); err != nil {
		t.Fatal(err)
	}
	for i, addr := range []string{"u3@a.example.jp", "u3@b.example.com"} {
		// A second bounce of the 10th delivery, then an 11th delivery's.
		if did := f.bounce(t, addr, dmarcBounce(addr, 20+i)); slices.Contains(did, DidSenderPaused) {
			t.Errorf("%s after the resume: did %v", addr, did)
		}
	}
	if r := f.runNow(t); !r.Active() {
		t.Errorf("paused again: %s (%s)", r.State, r.PauseReason)
	}
	if n := strings.Count(f.log.String(), "ALERT"); n != 1 {
		t.Errorf("%d ALERT lines, want 1:\n%s", n, f.log)
	}
}

// Sender-side bounces for 12 deliveries at only 2 domains are those
// domains' policy, not the sender's: the run keeps sending.
func TestSenderBouncesFromTwoDomainsDoNotPause(t *testing.T) {
	t.Parallel()
	f := newSenderFix(t, 6, "a.example.jp", "b.example.com")
	n := 0
	for addr := range f.deliveries {
		n++
		if did := f.bounce(t, addr, dmarcBounce(addr, n)); slices.Contains(did, DidSenderPaused) {
			t.Fatalf("bounce %d: did %v", n, did)
		}
	}
	if n != 12 {
		t.Fatalf("%d bounces", n)
	}
	if r := f.runNow(t); !r.Active() {
		t.Errorf("12 sender-side bounces at 2 domains: run %s (%s)", r.State, r.PauseReason)
	}
	if strings.Contains(f.log.String(), "ALERT") {
		t.Errorf("ALERT:\n%s", f.log)
	}
}

// A hard bounce (5.1.1) never counts towards the pause, however many: 9
// sender-side bounces and 3 hard ones across 3 domains leave the run
// sending, and the run's bounced count is the hard ones only.
func TestHardBouncesDoNotCountTowardsTheSenderPause(t *testing.T) {
	t.Parallel()
	f := newSenderFix(t, 4, "a.example.jp", "b.example.com", "c.example.org")
	n := 0
	for _, d := range []string{"a.example.jp", "b.example.com", "c.example.org"} {
		for i := range 3 {
			n++
			addr := fmt.Sprintf("u%d@%s", i, d)
			f.bounce(t, addr, dmarcBounce(addr, n))
		}
		addr := "u3@" + d
		if did := f.bounce(t, addr, userUnknown(addr, n)); !slices.Contains(did, DidSuppressed) {
			t.Fatalf("hard bounce: did %v", did)
		}
	}
	if r := f.runNow(t); !r.Active() {
		t.Errorf("run %s (%s)", r.State, r.PauseReason)
	}
	if b := f.bounced(t); b != 3 {
		t.Errorf("bounced = %d, want 3 (the hard ones)", b)
	}
	if strings.Contains(f.log.String(), "ALERT") {
		t.Errorf("ALERT:\n%s", f.log)
	}
}
