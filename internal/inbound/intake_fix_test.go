package inbound

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/internal/inbound/classify"
	"github.com/kizuna-alumni/kizuna/internal/store"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
	"github.com/kizuna-alumni/kizuna/internal/token"
)

// rawSMTP is a hand-driven SMTP client: it writes exactly what a test says.
type rawSMTP struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawSMTP {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	s := &rawSMTP{t: t, conn: c, r: bufio.NewReader(c)}
	t.Cleanup(func() { c.Close() })
	s.reply() // greeting
	return s
}

// reply reads one (multi-line) reply and returns its last line.
func (s *rawSMTP) reply() string {
	s.t.Helper()
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			s.t.Fatalf("reading a reply: %v", err)
		}
		if len(line) < 4 || line[3] != '-' {
			return strings.TrimRight(line, "\r\n")
		}
	}
}

// cmd writes text as is and reads the reply.
func (s *rawSMTP) cmd(text string) string {
	s.t.Helper()
	s.write(text)
	return s.reply()
}

func (s *rawSMTP) write(text string) {
	s.t.Helper()
	if _, err := s.conn.Write([]byte(text)); err != nil {
		s.t.Fatal(err)
	}
}

// startListenerLog is startListener with the listener's log kept.
func startListenerLog(t *testing.T, p *Processor) (smtpAddr string, log *safeBuffer) {
	t.Helper()
	log = &safeBuffer{}
	smtpAddr, _ = startListener(t, p, ListenerOptions{Log: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	return smtpAddr, log
}

// A BDAT chunk (RFC 3030) announced at 500 bytes of which 53 arrive before
// the connection drops is not a message: nothing is stored, nothing is
// processed. The same message sent whole by BDAT is stored.
func TestBDATCutShortIsNotStored(t *testing.T) {
	t.Parallel()
	p, db := newProcessor(t, 0)
	addr, log := startListenerLog(t, p)
	runProcessor(t, p)

	part := "From: a@example.jp\r\nSubject: cut\r\n\r\nThis is only part" // 53 bytes
	if len(part) != 53 {
		t.Fatalf("part is %d bytes", len(part))
	}
	c := dialRaw(t, addr)
	if r := c.cmd("EHLO client.example.jp\r\n"); !strings.HasPrefix(r, "250") {
		t.Fatalf("EHLO: %s", r)
	}
	c.cmd("MAIL FROM:<a@example.jp>\r\n")
	c.cmd("RCPT TO:<reply@in.example.co.jp>\r\n")
	c.write("BDAT 500 LAST\r\n" + part)
	c.conn.Close()

	waitFor(t, "the listener to see the cut", 10*time.Second, func() bool {
		return strings.Contains(log.String(), "ended before the message did") || count(t, db, "true") > 0
	})
	time.Sleep(200 * time.Millisecond) // a store racing the log line would show now
	if n := count(t, db, "true"); n != 0 {
		t.Fatalf("%d message(s) stored from a cut BDAT transfer, want 0", n)
	}

	// The same transfer whole is stored (the check above is not vacuous).
	whole := part + strings.Repeat("x", 500-53)
	c = dialRaw(t, addr)
	c.cmd("EHLO client.example.jp\r\n")
	c.cmd("MAIL FROM:<a@example.jp>\r\n")
	c.cmd("RCPT TO:<reply@in.example.co.jp>\r\n")
	if r := c.cmd("BDAT 500 LAST\r\n" + whole); !strings.HasPrefix(r, "250") {
		t.Fatalf("whole BDAT: %s", r)
	}
	// Two chunks, the second never sent: nothing stored either.
	c.cmd("MAIL FROM:<a@example.jp>\r\n")
	c.cmd("RCPT TO:<reply@in.example.co.jp>\r\n")
	if r := c.cmd("BDAT 20\r\n" + whole[:20]); !strings.HasPrefix(r, "250") {
		t.Fatalf("first chunk: %s", r)
	}
	c.conn.Close()
	waitFor(t, "the whole message processed", 10*time.Second, func() bool { return count(t, db, "processed_at IS NOT NULL") == 1 })
	time.Sleep(200 * time.Millisecond)
	if n := count(t, db, "true"); n != 1 {
		t.Errorf("%d messages stored, want only the whole one", n)
	}
}

// An empty message, one of only a blank line and one with no header are
// refused 554 5.6.0 (a permanent error: never 451, which makes the sender
// retry for days), over DATA and BDAT; nothing is stored.
func TestMessageWithoutHeaderRefused554(t *testing.T) {
	t.Parallel()
	p, db := newProcessor(t, 0)
	addr, _ := startListenerLog(t, p)
	c := dialRaw(t, addr)
	c.cmd("EHLO client.example.jp\r\n")
	for _, tc := range []struct{ name, send string }{
		{"empty DATA", "DATA\r\n"},
		{"CRLF only", "DATA\r\n"},
		{"text without a header", "DATA\r\n"},
		{"BDAT 0 LAST", ""},
	} {
		if r := c.cmd("MAIL FROM:<a@example.jp>\r\n"); !strings.HasPrefix(r, "250") {
			t.Fatalf("%s: MAIL: %s", tc.name, r)
		}
		c.cmd("RCPT TO:<reply@in.example.co.jp>\r\n")
		var r string
		switch tc.name {
		case "empty DATA":
			c.cmd("DATA\r\n")
			r = c.cmd(".\r\n")
		case "CRLF only":
			c.cmd("DATA\r\n")
			r = c.cmd("\r\n.\r\n")
		case "text without a header":
			c.cmd("DATA\r\n")
			r = c.cmd("hello, this is not a header\r\n.\r\n")
		case "BDAT 0 LAST":
			r = c.cmd("BDAT 0 LAST\r\n")
		}
		if !strings.HasPrefix(r, "554 5.6.0") {
			t.Errorf("%s: %q, want 554 5.6.0", tc.name, r)
		}
	}
	if n := count(t, db, "true"); n != 0 {
		t.Errorf("%d stored, want 0", n)
	}
}

// A stored message the classifier cannot read (an empty one from a
// mailbox) is processed as unreadable at once: its error kept (said once,
// not "classify: classify:"), listed as unattributed, never retried; and
// reprocess reports it instead of failing.
func TestUnreadableMessageProcessedAndReported(t *testing.T) {
	t.Parallel()
	p, db := newProcessor(t, 0)
	ctx := context.Background()
	id, _, err := p.Store(ctx, SourceIMAP, "", nil, nil)
	if err != nil {
		t.Fatalf("store an empty message from a mailbox: %v", err)
	}
	good, _, _ := p.Store(ctx, SourceIMAP, "", nil, testMessage(1, ""))
	n, err := p.Drain(ctx)
	if n != 2 || err != nil {
		t.Fatalf("Drain: %d %v, want 2 processed and no error", n, err)
	}
	var row struct {
		Error     string `db:"error"`
		Processed bool   `db:"processed"`
		Class     *string
	}
	if err := db.Get(&row, `SELECT error, processed_at IS NOT NULL AS processed, class FROM inbound_messages WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if !row.Processed || row.Class != nil || row.Error != classify.ErrEmpty.Error() {
		t.Errorf("unreadable row %+v, want processed, no class, error %q", row, classify.ErrEmpty)
	}
	l, err := List(ctx, db.DB, true, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != 2 || l[0].ID != good || l[1].ID != id || l[1].Error == "" {
		t.Errorf("unattributed list %+v", l)
	}
	rep, err := p.Reprocess(ctx, time.Time{})
	if err != nil || rep.Reset != 2 || len(rep.Unreadable) != 1 || rep.Unreadable[0].ID != id {
		t.Errorf("Reprocess: %+v %v; want 2 reset, message %d reported unreadable, no error", rep, err, id)
	}
	if count(t, db, "processed_at IS NULL") != 0 {
		t.Error("something is left unprocessed")
	}
}

// A message whose processing always fails is given up after MaxAttempts
// failures, counted in the database across processors (a restart): it is
// marked processed with its error and listed.
func TestRepeatedFailureGivenUpAcrossRestarts(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	ctx := context.Background()
	newP := func() *Processor {
		p, err := New(Options{DB: db.DB, Address: inboundAddr, Signer: token.New([]byte("0123456789abcdef0123456789abcdef")),
			RetryMin: time.Hour, RetryMax: time.Hour, MaxAttempts: 3})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if _, err := db.Exec(`CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.processed_at IS NOT NULL AND NEW.error = '' THEN RAISE EXCEPTION 'refused on purpose'; END IF; RETURN NEW; END $$;
		CREATE TRIGGER refuse BEFORE UPDATE ON inbound_messages FOR EACH ROW EXECUTE FUNCTION refuse();`); err != nil {
		t.Fatal(err)
	}
	p1 := newP()
	id, _, _ := p1.Store(ctx, SourceSMTP, "", nil, testMessage(1, ""))
	if _, err := p1.Drain(ctx); err == nil {
		t.Fatal("the first try did not fail")
	}
	if n := count(t, db, "id = $1 AND attempts = 1 AND processed_at IS NULL", id); n != 1 {
		t.Fatal("the failure was not counted")
	}
	// Restarts: each new Processor knows nothing in memory, and tries once
	// (its retry wait is an hour); the database counts on.
	for range 2 {
		if _, err := newP().Drain(ctx); err == nil {
			t.Fatal("a try after a restart did not fail")
		}
	}
	p2 := newP()
	var e string
	db.Get(&e, `SELECT error FROM inbound_messages WHERE id = $1 AND processed_at IS NOT NULL AND attempts = 3`, id)
	if !strings.HasPrefix(e, "given up after 3 failed attempts: ") || !strings.Contains(e, "refused on purpose") {
		t.Fatalf("after 3 failures: error %q, want given up, processed", e)
	}
	if n, err := p2.Drain(ctx); n != 0 || err != nil {
		t.Errorf("a given-up message was taken again: %d %v", n, err)
	}
	l, _ := List(ctx, db.DB, true, 10)
	if len(l) != 1 || l[0].ID != id {
		t.Errorf("the given-up message is not listed as unattributed: %+v", l)
	}
}

// Reprocessing a reply whose forward is queued already says so
// (forward_exists), not forward_queued: nothing is queued again.
func TestReprocessKeepsTheForward(t *testing.T) {
	t.Parallel()
	f := newActFix(t)
	d := f.send(t, newsletter("news"), "o1")
	ours := f.msgID(d[0])
	id, _, err := f.p.Store(t.Context(), SourceSMTP, "", []string{testInbound}, []byte(fmt.Sprintf(replyRaw, "x", ours, ours)))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.p.Process(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	did := func() string {
		var s string
		f.db.Get(&s, `SELECT result->>'did' FROM inbound_messages WHERE id = $1`, id)
		return s
	}
	if got := did(); !strings.Contains(got, `"forward_queued"`) {
		t.Fatalf("first processing did %s", got)
	}
	if _, err := f.p.Reprocess(t.Context(), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got := did(); strings.Contains(got, "forward_queued") || !strings.Contains(got, `"forward_exists"`) {
		t.Errorf("reprocessing did %s, want forward_exists", got)
	}
	if n := f.count(t, `SELECT count(*) FROM inbound_forwards WHERE inbound_id = $1`, id); n != 1 {
		t.Errorf("%d forwards", n)
	}

	// Show: the delivery (campaign, run, alumnus), what was done, the text.
	s, err := Show(t.Context(), f.db.DB, id)
	if err != nil {
		t.Fatal(err)
	}
	if s.Delivery == nil || s.Delivery.ID != d[0] || s.Delivery.Campaign != "news" || s.Delivery.Run != 1 ||
		s.Delivery.AlumnusID != f.alumni[0] || s.Delivery.Email != "hanako@example.jp" {
		t.Errorf("shown delivery %+v", s.Delivery)
	}
	if s.Class != "human_reply" || s.Subject != "Re: アルムナイ通信" || !strings.Contains(s.Text, "交流会に参加したいです") ||
		s.Forward == nil || s.Forward.To != "hr@example.co.jp" || len(s.Did) == 0 {
		t.Errorf("shown %+v", s)
	}
	if _, err := Show(t.Context(), f.db.DB, id+1000); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an unknown id: %v", err)
	}
}

// The mailbox is logged with its user escaped as in the URL, without the
// password.
func TestIMAPTargetStringEscapesTheUser(t *testing.T) {
	tg, err := ParseIMAPURL("imaps://u%40x.jp:pw-secret@imap.example.jp/INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if got := tg.String(); got != "imaps://u%40x.jp@imap.example.jp:993/INBOX" && got != "imaps://u%40x.jp@imap.example.jp/INBOX" {
		t.Errorf("String() = %q", got)
	}
	if strings.Contains(tg.String(), "pw-secret") {
		t.Error("the password shows")
	}
}
