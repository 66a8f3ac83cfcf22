package inbound

import (
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/inbound/classify"
	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/store"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
	"github.com/kizuna-alumni/kizuna/internal/token"
)

const (
	testSecret  = "inbound-act-test-secret-0123456789abcdef"
	testInbound = "reply@in.example.co.jp"
)

// actFix is a database with alumni, a Processor and helpers to store an
// inbound message and act on it as the intake's Process does (act, then
// the row's class, delivery and processed_at, in one transaction).
type actFix struct {
	db     *testdb.DB
	p      *Processor
	signer *token.Signer
	alumni []int64
	seq    atomic.Int64
}

func newActFix(t *testing.T) *actFix {
	t.Helper()
	db := testdb.New(t)
	f := &actFix{db: db, signer: token.New([]byte(testSecret))}
	p, err := New(Options{DB: db.DB, Signer: f.signer, Address: testInbound, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	f.p = p
	f.alumni = testdb.Alumni(t, db,
		testdb.Alumnus{Email: "hanako@example.jp", FamilyName: "山田", GivenName: "花子", Consent: true},
		testdb.Alumnus{Email: "john@example.com", GivenName: "John", Locale: "en", Consent: true},
		testdb.Alumnus{Email: "taro@example.jp", FamilyName: "鈴木", Consent: true},
	)
	return f
}

// newsletter is a campaign whose replies go to hr@example.co.jp.
func newsletter(id string) *campaigns.Campaign {
	return &campaigns.Campaign{
		ID: id, Kind: campaigns.KindNewsletter,
		Company: campaigns.Company{Name: "Example株式会社", Address: "東京都渋谷区神南1-2-3",
			Contact: "alumni@example.co.jp / 03-1234-5678", URL: "https://example.co.jp"},
		From: "Example株式会社 人事部 <alumni@example.co.jp>", ReplyTo: "hr@example.co.jp",
		Subject:  map[string]string{"ja": "アルムナイ通信", "en": "Alumni news"},
		Audience: campaigns.Audience{Locales: []string{"ja", "en"}, Consent: "required"},
		Template: campaigns.Template{Theme: "default", Body: map[string]campaigns.Body{
			"ja": {Intros: []string{"こんにちは。"}}, "en": {Intros: []string{"Hello."}}}},
		Digest: "digest-" + id,
	}
}

// send registers c and creates its run for occurrence, with one sent
// delivery per alumnus; it returns the deliveries in the alumni's order.
func (f *actFix) send(t *testing.T, c *campaigns.Campaign, occurrence string) []int64 {
	t.Helper()
	v, err := runs.RegisterVersion(t.Context(), f.db.DB, c)
	if err != nil {
		t.Fatal(err)
	}
	run, _, err := runs.Create(t.Context(), f.db.DB, v, occurrence, runs.KindSend)
	if err != nil {
		t.Fatal(err)
	}
	return testdb.Deliveries(t, f.db, testdb.DeliveriesOpts{Run: run.ID, Alumni: f.alumni, State: "sent", SentAt: time.Now().Add(-time.Hour)})
}

// addr is the signed inbound address of delivery d for purpose
// (token.Reply, token.Bounce, token.Unsubscribe), as render writes it.
func (f *actFix) addr(d int64, purpose token.Purpose) string {
	sep := map[token.Purpose]string{token.Reply: "+", token.Bounce: "+b.", token.Unsubscribe: "+u."}[purpose]
	return "reply" + sep + f.signer.SignAddress(token.Claims{Purpose: purpose, DeliveryID: d}) + "@in.example.co.jp"
}

// msgID is the Message-ID Kizuna gave delivery d (run 1).
func (f *actFix) msgID(d int64) string {
	return fmt.Sprintf("d%d.1.%s@example.co.jp", d, f.signer.Digest(token.Claims{Purpose: token.MessageID, DeliveryID: d}))
}

// store writes an inbound message row (raw may be empty: a unique one is made).
func (f *actFix) store(t *testing.T, raw string, envTo ...string) Stored {
	t.Helper()
	if raw == "" {
		raw = fmt.Sprintf("Subject: m%d\r\n\r\nbody\r\n", f.seq.Add(1))
	}
	sum := sha256.Sum256([]byte(raw))
	if envTo == nil {
		envTo = []string{}
	}
	m := Stored{Source: "smtp", EnvelopeTo: envTo, Raw: []byte(raw)}
	err := f.db.QueryRowxContext(t.Context(), `
		INSERT INTO inbound_messages (source, envelope_to, raw, size, sha256) VALUES ('smtp', $1, $2, $3, $4)
		RETURNING id, received_at`, pq.StringArray(envTo), []byte(raw), len(raw), sum[:]).Scan(&m.ID, &m.ReceivedAt)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// process acts on m as the intake's Process does.
func (f *actFix) process(t *testing.T, m Stored, r classify.Result) Outcome {
	t.Helper()
	var o Outcome
	err := store.InTx(t.Context(), f.db.DB, func(tx *sqlx.Tx) error {
		var err error
		if o, err = f.p.act(t.Context(), tx, m, r); err != nil {
			return err
		}
		_, err = tx.ExecContext(t.Context(), `
			UPDATE inbound_messages SET class = $2, delivery_id = NULLIF($3, 0), processed_at = now() WHERE id = $1`,
			m.ID, string(r.Class), o.DeliveryID)
		return err
	})
	if err != nil {
		t.Fatalf("act on inbound message %d: %v", m.ID, err)
	}
	return o
}

// count runs a count query.
func (f *actFix) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	if err := f.db.GetContext(t.Context(), &n, q, args...); err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *actFix) events(t *testing.T, d int64, kind string) int {
	return f.count(t, `SELECT count(*) FROM delivery_events WHERE delivery_id = $1 AND kind = $2`, d, kind)
}

func (f *actFix) status(t *testing.T, alumnus int64) string {
	t.Helper()
	var s string
	if err := f.db.GetContext(t.Context(), &s, `SELECT status FROM alumni WHERE id = $1`, alumnus); err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *actFix) suppressed(t *testing.T, email string) string {
	t.Helper()
	var reason string
	err := f.db.GetContext(t.Context(), &reason, `SELECT coalesce((SELECT reason FROM suppressions WHERE email_hash = $1), '')`, store.HashEmail(email))
	if err != nil {
		t.Fatal(err)
	}
	return reason
}

func did(o Outcome, what string) bool { return slices.Contains(o.Did, what) }

func bounceOf(addr, status, reason string, hard bool) classify.Result {
	return classify.Result{Class: classify.Bounce, Automatic: true, Recipients: []classify.Recipient{{
		Address: addr, Action: "failed", Status: status, ReplyCode: "550", Reason: reason, Hard: hard,
		Diagnostic: "smtp; 550 " + status + " " + reason}}}
}

// A hard bounce to the VERP address suppresses the address once: the same
// message processed twice (Reprocess) leaves one event and one
// suppression; the run's status counts it.
func TestHardBounceSuppressesOnce(t *testing.T) {
	t.Parallel()
	f := newActFix(t)
	d := f.send(t, newsletter("news"), "o1")
	m := f.store(t, "", f.addr(d[0], token.Bounce))
	r := bounceOf("hanako@example.jp", "5.1.1", "user_unknown", true)
	for range 2 {
		o := f.process(t, m, r)
		if o.DeliveryID != d[0] || !did(o, DidSuppressed) {
			t.Fatalf("outcome %+v", o)
		}
	}
	if n := f.events(t, d[0], "bounce"); n != 1 {
		t.Errorf("%d bounce events, want 1", n)
	}
	if s := f.status(t, f.alumni[0]); s != "bounced" {
		t.Errorf("status %s, want bounced", s)
	}
	if r := f.suppressed(t, "hanako@example.jp"); r != "bounced" {
		t.Errorf("suppression %q, want bounced", r)
	}
	if f.status(t, f.alumni[1]) != "active" || f.suppressed(t, "john@example.com") != "" {
		t.Error("another person changed")
	}
	st, err := runs.Status(t.Context(), f.db.DB, "news")
	if err != nil {
		t.Fatal(err)
	}
	if st[0].Bounced != 1 {
		t.Errorf("status bounced %d, want 1", st[0].Bounced)
	}
}

// Soft bounces count per run: two in one run and one in another do not
// reach the limit of 3; one in a third run does.
func TestSoftBounceLimitAcrossRuns(t *testing.T) {
	t.Parallel()
	f := newActFix(t)
	var dels [][]int64
	for i := range 3 {
		dels = append(dels, f.send(t, newsletter(fmt.Sprintf("news-%d", i)), "o1"))
	}
	soft := bounceOf("hanako@example.jp", "5.2.2", "mailbox_full", false)
	for _, d := range []int64{dels[0][0], dels[0][0], dels[1][0]} {
		o := f.process(t, f.store(t, "", f.addr(d, token.Bounce)), soft)
		if !did(o, DidBounceEvent) || did(o, DidSuppressed) {
			t.Fatalf("outcome %+v", o)
		}
	}
	if s := f.status(t, f.alumni[0]); s != "active" {
		t.Fatalf("suppressed after soft bounces in 2 runs: %s", s)
	}
	o := f.process(t, f.store(t, "", f.addr(dels[2][0], token.Bounce)), soft)
	if !did(o, DidSoftLimit) || !did(o, DidSuppressed) {
		t.Fatalf("outcome %+v", o)
	}
	if s := f.status(t, f.alumni[0]); s != "bounced" {
		t.Errorf("status %s, want bounced", s)
	}
	// Soft bounces are not hard: the runs' status does not count them.
	st, err := runs.Status(t.Context(), f.db.DB, "news-0")
	if err != nil {
		t.Fatal(err)
	}
	if st[0].Bounced != 0 {
		t.Errorf("status counts %d soft bounces as bounced", st[0].Bounced)
	}
}

// kizuna.yaml's bounces.soft_limit, carried in the campaign version,
// decides: with 1, the first soft bounce suppresses.
func TestSoftLimitFromTheCampaignVersion(t *testing.T) {
	t.Parallel()
	f := newActFix(t)
	c := newsletter("strict")
	c.Bounces = &campaigns.Bounces{SoftLimit: 1}
	d := f.send(t, c, "o1")
	o := f.process(t, f.store(t, "", f.addr(d[1], token.Bounce)), bounceOf("john@example.com", "4.4.7", "expired", false))
	if !did(o, DidSuppressed) || f.status(t, f.alumni[1]) != "bounced" {
		t.Fatalf("outcome %+v, status %s", o, f.status(t, f.alumni[1]))
	}
}

// A delayed notice changes nothing.
func TestDelayedChangesNothing(t *testing.T) {
	t.Parallel()
	f := newActFix(t)
	d := f.send(t, newsletter("news"), "o1")
	r := classify.Result{Class: classify.Delayed, Automatic: true, Recipients: []classify.Recipient{{
		Address: "hanako@example.jp", Action: "delayed", Status: "4.4.7", Reason: "expired"}}}
	o := f.process(t, f.store(t, "", f.addr(d[0], token.Bounce)), r)
	if o.DeliveryID != d[0] || !did(o, DidDelayed) {
		t.Fatalf("outcome %+v", o)
	}
	if n := f.count(t, `SELECT count(*) FROM delivery_events`); n != 0 {
		t.Errorf("%d events", n)
	}
	if f.status(t, f.alumni[0]) != "active" {
		t.Error("delayed notice suppressed")
	}
}

// A failure about the sender (DMARC, 5.7.26) never suppresses the
// recipient nor counts as their bounce, even marked hard by mistake: it is
// recorded as a bounce event of type sender, which the run's bounced
// count leaves out.
func TestSenderSideBounceDoesNotSuppress(t *testing.T) {
	t.Parallel()
	f := newActFix(t)
	d := f.send(t, newsletter("news"), "o1")
	for _, r := range []classify.Result{
		bounceOf("hanako@example.jp", "5.7.26", "auth", false),
		bounceOf("hanako@example.jp", "5.7.26", "policy", true),
		bounceOf("hanako@example.jp", "5.1.8", "rejected", false),
	} {
		o := f.process(t, f.store(t, "", f.addr(d[0], token.Bounce)), r)
		if !did(o, DidSenderSide) {
			t.Fatalf("%s: outcome %+v", r.Recipients[0].Status, o)
		}
	}
	if n := f.count(t, `SELECT count(*) FROM delivery_events WHERE delivery_id = $1 AND kind = 'bounce'
		AND detail->>'type' = 'sender' AND (detail->>'sender_side')::bool`, d[0]); n != 3 {
		t.Errorf("%d sender-side bounce events, want 3", n)
	}
	if f.status(t, f.alumni[0]) != "active" || f.suppressed(t, "hanako@example.jp") != "" {
		t.Error("suppressed for the sender's problem")
	}
	st, err := runs.Status(t.Context(), f.db.DB, "news")
	if err != nil || len(st) != 1 || st[0].Bounced != 0 {
		t.Errorf("status %+v, %v: want bounced 0", st, err)
	}
}

// A relay's bounce for a delivery the worker recorded as bounced at SMTP
// time adds no second event. A bounce naming another address than the
// delivery's, among several, is not this delivery's.
func TestBounceAfterTheRelaysAndForeignRecipients(t *testing.T) {
	t.Parallel()
	f := newActFix(t)
	d := f.send(t, newsletter("news"), "o1")
	if err := runs.RecordBounces(t.Context(), f.db.DB, []int64{d[0]}, []string{"550 5.1.1 no such user"}); err != nil {
		t.Fatal(err)
	}
	o := f.process(t, f.store(t, "", f.addr(d[0], token.Bounce)), bounceOf("hanako@example.jp", "5.1.1", "user_unknown", true))
	if !did(o, DidAlreadyBounced) || f.events(t, d[0], "bounce") != 1 {
		t.Errorf("outcome %+v, %d bounce events", o, f.events(t, d[0], "bounce"))
	}
	r := bounceOf("other@example.org", "5.1.1", "user_unknown", true)
	r.Recipients = append(r.Recipients, classify.Recipient{Address: "third@example.org", Action: "failed", Status: "5.1.1", Hard: true})
	o = f.process(t, f.store(t, "", f.addr(d[1], token.Bounce)), r)
	if !did(o, DidNoRecipient) || f.status(t, f.alumni[1]) != "active" {
		t.Errorf("outcome %+v, status %s", o, f.status(t, f.alumni[1]))
	}
	// The only failed recipient is taken even when it is another address
	// (a forwarding mailbox behind the person's).
	o = f.process(t, f.store(t, "", f.addr(d[1], token.Bounce)), bounceOf("john.old@example.org", "5.1.1", "user_unknown", true))
	if !did(o, DidSuppressed) || f.status(t, f.alumni[1]) != "bounced" {
		t.Errorf("outcome %+v", o)
	}
}

// An automatic reply is counted once on its delivery and never forwarded.
func TestAutoReplyCountedNotForwarded(t *testing.T) {
	t.Parallel()
	f := newActFix(t)
	d := f.send(t, newsletter("news"), "o1")
	m := f.store(t, "", f.addr(d[0], token.Bounce))
	r := classify.Result{Class: classify.AutoReply, Automatic: true, From: "hanako@example.jp", Subject: "不在: アルムナイ通信"}
	for range 2 {
		if o := f.process(t, m, r); !did(o, DidAutoReply) {
			t.Fatalf("outcome %+v", o)
		}
	}
	if n := f.events(t, d[0], "auto_reply"); n != 1 {
		t.Errorf("%d auto_reply events, want 1", n)
	}
	if n := f.count(t, `SELECT count(*) FROM inbound_forwards`); n != 0 {
		t.Errorf("%d forwards of an automatic reply", n)
	}
	st, _ := runs.Status(t.Context(), f.db.DB, "news")
	if st[0].Replied != 0 {
		t.Errorf("an automatic reply counted as replied")
	}
}

// Mail with no token and no Message-ID of ours changes nothing.
func TestUnattributedChangesNothing(t *testing.T) {
	t.Parallel()
	f := newActFix(t)
	f.send(t, newsletter("news"), "o1")
	forged := strings.Replace(f.addr(1, token.Unsubscribe), "+u.", "+u.x", 1)
	m := f.store(t, "", testInbound, forged)
	for _, r := range []classify.Result{
		{Class: classify.HumanReply, From: "stranger@example.org", InReplyTo: "d1.1.aaaaaaaaaaaaaaaa@example.co.jp"},
		bounceOf("hanako@example.jp", "5.1.1", "user_unknown", true),
		{Class: classify.UnsubscribeRequest, Subject: "配信停止"},
	} {
		if o := f.process(t, m, r); o.DeliveryID != 0 || !did(o, DidUnattributed) {
			t.Fatalf("%s: outcome %+v", r.Class, o)
		}
	}
	if n := f.count(t, `SELECT count(*) FROM delivery_events`) + f.count(t, `SELECT count(*) FROM suppressions`) + f.count(t, `SELECT count(*) FROM inbound_forwards`); n != 0 {
		t.Errorf("%d rows written", n)
	}
}

// Mail to the List-Unsubscribe mailto (reply+u.TOKEN@) unsubscribes as
// the page does, once; so does a reply asking to stop, and a complaint
// (ARF) found by the returned Message-ID or by Original-Rcpt-To.
func TestUnsubscribeByMailAndComplaint(t *testing.T) {
	t.Parallel()
	f := newActFix(t)
	d := f.send(t, newsletter("news"), "o1")
	m := f.store(t, "", f.addr(d[0], token.Unsubscribe))
	for range 2 {
		o := f.process(t, m, classify.Result{Class: classify.HumanReply, From: "hanako@example.jp", Subject: "unsubscribe"})
		if !did(o, DidUnsubscribed) {
			t.Fatalf("outcome %+v", o)
		}
	}
	if f.events(t, d[0], "unsubscribe") != 1 || f.status(t, f.alumni[0]) != "unsubscribed" || f.suppressed(t, "hanako@example.jp") != "unsubscribed" {
		t.Errorf("mailto: %d events, status %s", f.events(t, d[0], "unsubscribe"), f.status(t, f.alumni[0]))
	}
	var via string
	f.db.GetContext(t.Context(), &via, `SELECT detail->>'via' FROM delivery_events WHERE delivery_id = $1 AND kind = 'unsubscribe'`, d[0])
	if via != runs.UnsubscribeMail {
		t.Errorf("via %q", via)
	}

	arf := classify.Result{Class: classify.FeedbackReport, Automatic: true, OriginalMessageID: f.msgID(d[1]), OriginalTo: []string{"john@example.com"}}
	if o := f.process(t, f.store(t, "", testInbound), arf); o.DeliveryID != d[1] || !did(o, DidUnsubscribed) {
		t.Fatalf("ARF: outcome %+v", o)
	}
	f.db.GetContext(t.Context(), &via, `SELECT detail->>'via' FROM delivery_events WHERE delivery_id = $1 AND kind = 'unsubscribe'`, d[1])
	if via != runs.UnsubscribeComplaint || f.status(t, f.alumni[1]) != "unsubscribed" {
		t.Errorf("ARF: via %q, status %s", via, f.status(t, f.alumni[1]))
	}
	redacted := classify.Result{Class: classify.FeedbackReport, Automatic: true, OriginalTo: []string{"taro@example.jp"}}
	if o := f.process(t, f.store(t, "", testInbound), redacted); o.DeliveryID != d[2] || !did(o, DidUnsubscribed) {
		t.Fatalf("ARF by Original-Rcpt-To: outcome %+v", o)
	}
	reply := classify.Result{Class: classify.UnsubscribeRequest, From: "x@example.jp", InReplyTo: f.msgID(d[2])}
	if o := f.process(t, f.store(t, ""), reply); !did(o, DidUnsubscribed) || f.events(t, d[2], "unsubscribe") != 1 {
		t.Fatalf("unsubscribe request: outcome %+v", o)
	}
	st, _ := runs.Status(t.Context(), f.db.DB, "news")
	if st[0].Unsubscribed != 3 {
		t.Errorf("status unsubscribed %d, want 3", st[0].Unsubscribed)
	}
}

// A request to stop that names no delivery (written to the bare inbound
// address: no token, no In-Reply-To) from an alumna's own roster address
// unsubscribes her, by address, with no delivery event (there is no
// delivery); so does a complaint whose only Original-Rcpt-To is an alumnus
// with no delivery. The same message again changes nothing more. A
// request from an address not in the roster, a complaint about one, and a
// human reply from an alumnus change nothing (kept unattributed).
func TestUnattributedStopRequestFromTheRoster(t *testing.T) {
	t.Parallel()
	f := newActFix(t)
	raw := "From: =?UTF-8?B?5bGx55Sw6Iqx5a2Q?= <Hanako@Example.JP>\r\nTo: " + testInbound + "\r\n" +
		"Subject: =?UTF-8?B?6YWN5L+h5YGc5q2i?=\r\nMessage-ID: <stop-1@example.jp>\r\n" +
		"Date: Thu, 03 Dec 2026 09:00:00 +0900\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		"今後のメールは不要です。\r\n"
	r, err := classify.Classify([]byte(raw))
	if err != nil || r.Class != classify.UnsubscribeRequest {
		t.Fatalf("classified %s (%v)", r.Class, err)
	}
	m := f.store(t, raw, testInbound)
	for range 2 {
		o := f.process(t, m, r)
		if o.DeliveryID != 0 || !did(o, DidUnsubscribed) || !did(o, DidByAddress+":"+runs.UnsubscribeMail) || did(o, DidUnattributed) {
			t.Fatalf("request from the roster: outcome %+v", o)
		}
	}
	if s := f.status(t, f.alumni[0]); s != "unsubscribed" {
		t.Errorf("status %s, want unsubscribed", s)
	}
	if s := f.suppressed(t, "hanako@example.jp"); s != "unsubscribed" {
		t.Errorf("suppression %q, want unsubscribed", s)
	}

	arf := classify.Result{Class: classify.FeedbackReport, Automatic: true, OriginalTo: []string{"john@example.com"}}
	if o := f.process(t, f.store(t, "", testInbound), arf); o.DeliveryID != 0 || !did(o, DidByAddress+":"+runs.UnsubscribeComplaint) {
		t.Fatalf("complaint about an alumnus: outcome %+v", o)
	}
	if s := f.status(t, f.alumni[1]); s != "unsubscribed" {
		t.Errorf("complaint: status %s, want unsubscribed", s)
	}

	for i, r := range []classify.Result{
		{Class: classify.UnsubscribeRequest, From: "stranger@example.org", Subject: "配信停止"},
		{Class: classify.FeedbackReport, Automatic: true, OriginalTo: []string{"someone@example.net"}},
		{Class: classify.HumanReply, From: "taro@example.jp", Subject: "配信停止しないでください"},
		{Class: classify.UnsubscribeRequest, From: "reply@in.example.co.jp", Subject: "配信停止"},
	} {
		if o := f.process(t, f.store(t, "", testInbound), r); o.DeliveryID != 0 || !did(o, DidUnattributed) || did(o, DidUnsubscribed) {
			t.Errorf("case %d: outcome %+v", i, o)
		}
	}
	if s := f.status(t, f.alumni[2]); s != "active" {
		t.Errorf("a human reply changed taro's status to %s", s)
	}
	for _, a := range []string{"stranger@example.org", "someone@example.net", "taro@example.jp", "reply@in.example.co.jp"} {
		if s := f.suppressed(t, a); s != "" {
			t.Errorf("%s suppressed as %s", a, s)
		}
	}
	if n := f.count(t, `SELECT count(*) FROM delivery_events`) + f.count(t, `SELECT count(*) FROM inbound_forwards`); n != 0 {
		t.Errorf("%d events or forwards written", n)
	}
	if n := f.count(t, `SELECT count(*) FROM suppressions`); n != 2 {
		t.Errorf("%d suppressions, want 2", n)
	}
}
