package inbound

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/kizuna-alumni/kizuna/internal/testdb"
	"github.com/kizuna-alumni/kizuna/internal/token"
)

const inboundAddr = "reply@in.example.co.jp"

// newProcessor builds a Processor on a fresh database.
func newProcessor(t *testing.T, maxBytes int64) (*Processor, *testdb.DB) {
	t.Helper()
	db := testdb.New(t)
	p, err := New(Options{DB: db.DB, MaxBytes: maxBytes, Address: inboundAddr,
		Signer: token.New([]byte("0123456789abcdef0123456789abcdef")), PollEvery: 50 * time.Millisecond,
		RetryMin: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return p, db
}

// message is a small mail with a unique Message-ID.
func testMessage(n int, extra string) []byte {
	return []byte(fmt.Sprintf("From: Taro <taro@example.jp>\r\nTo: %s\r\nSubject: Re: 同窓会 %d\r\n"+
		"Message-ID: <m%d@example.jp>\r\nDate: Mon, 2 Feb 2026 10:00:00 +0900\r\n\r\nありがとうございます %d\r\n%s",
		inboundAddr, n, n, n, extra))
}

// startListener runs a listener for p on an SMTP and an LMTP loopback port.
func startListener(t *testing.T, p *Processor, o ListenerOptions) (smtpAddr, lmtpAddr string) {
	t.Helper()
	o.Endpoints = []Endpoint{{Network: "tcp", Address: "127.0.0.1:0"}, {LMTP: true, Network: "tcp", Address: "127.0.0.1:0"}}
	o.Domain = "in.example.co.jp"
	l, err := p.NewListener(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("listener: %v", err)
		}
	})
	return l.Addrs()[0].String(), l.Addrs()[1].String()
}

// runProcessor runs p's processing loop for the test.
func runProcessor(t *testing.T, p *Processor) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// sendVia delivers raw over SMTP or LMTP with go-smtp's client.
func sendVia(addr string, lmtp bool, from string, to []string, raw []byte) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	c := smtp.NewClient(conn)
	if lmtp {
		c = smtp.NewClientLMTP(conn)
	}
	defer c.Close()
	if err := c.SendMail(from, to, bytes.NewReader(raw)); err != nil {
		return err
	}
	return c.Quit()
}

func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func count(t *testing.T, db *testdb.DB, where string, args ...any) int {
	t.Helper()
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM inbound_messages WHERE `+where, args...); err != nil {
		t.Fatal(err)
	}
	return n
}

// A message delivered over SMTP and one over LMTP are each stored once,
// with their envelope and Message-ID, and processed; the same message
// delivered again is accepted and not stored twice.
func TestSMTPAndLMTPDeliveryStoredOnceAndProcessed(t *testing.T) {
	t.Parallel()
	p, db := newProcessor(t, 0)
	smtpAddr, lmtpAddr := startListener(t, p, ListenerOptions{})
	runProcessor(t, p)

	if err := sendVia(smtpAddr, false, "taro@example.jp", []string{"reply+abc@in.example.co.jp"}, testMessage(1, "")); err != nil {
		t.Fatalf("SMTP: %v", err)
	}
	if err := sendVia(lmtpAddr, true, "", []string{"reply+b.xyz@IN.EXAMPLE.CO.JP", "reply@in.example.co.jp"}, testMessage(2, "")); err != nil {
		t.Fatalf("LMTP: %v", err)
	}
	// Sent twice (a sender retrying after a lost 250): stored once.
	if err := sendVia(smtpAddr, false, "taro@example.jp", []string{"reply+abc@in.example.co.jp"}, testMessage(1, "")); err != nil {
		t.Fatalf("SMTP again: %v", err)
	}
	waitFor(t, "both processed", 10*time.Second, func() bool { return count(t, db, "processed_at IS NOT NULL") == 2 })

	var rows []struct {
		Source    string `db:"source"`
		From      string `db:"envelope_from"`
		To        string `db:"to"`
		MessageID string `db:"message_id"`
		Class     string `db:"class"`
		Size      int    `db:"size"`
		Truncated bool   `db:"truncated"`
		RawLen    int    `db:"raw_len"`
		HasResult bool   `db:"has_result"`
	}
	if err := db.Select(&rows, `SELECT source, envelope_from, array_to_string(envelope_to, ' ') AS to, message_id,
		class, size, truncated, length(raw) AS raw_len, result ? 'result' AS has_result FROM inbound_messages ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("%d rows stored, want 2: %+v", len(rows), rows)
	}
	r := rows[0]
	if r.Source != "smtp" || r.From != "taro@example.jp" || r.To != "reply+abc@in.example.co.jp" || r.MessageID != "m1@example.jp" ||
		r.Class != "human_reply" || r.Truncated || r.Size != r.RawLen || r.Size != len(testMessage(1, "")) || !r.HasResult {
		t.Errorf("SMTP row: %+v", r)
	}
	r = rows[1]
	if r.Source != "lmtp" || r.From != "" || r.To != "reply+b.xyz@IN.EXAMPLE.CO.JP reply@in.example.co.jp" || r.MessageID != "m2@example.jp" || r.Class != "human_reply" {
		t.Errorf("LMTP row: %+v", r)
	}
	if p.Processed() != 2 {
		t.Errorf("processed %d times, want 2", p.Processed())
	}
}

// A recipient outside the inbound domain is refused 550 5.1.1 (not an
// open relay), over SMTP and LMTP, and nothing is stored.
func TestForeignRecipientRefused(t *testing.T) {
	t.Parallel()
	p, db := newProcessor(t, 0)
	smtpAddr, lmtpAddr := startListener(t, p, ListenerOptions{})
	for _, c := range []struct {
		addr string
		lmtp bool
		to   string
	}{
		{smtpAddr, false, "someone@gmail.com"},
		{smtpAddr, false, "reply@example.co.jp"},           // the parent domain is not the inbound one
		{smtpAddr, false, "reply@evil.in.example.co.jp"},   // nor a subdomain
		{lmtpAddr, true, "reply@in.example.co.jp.evil.jp"}, // nor a suffix
	} {
		err := sendVia(c.addr, c.lmtp, "spammer@example.net", []string{c.to}, testMessage(1, ""))
		var se *smtp.SMTPError
		if !errors.As(err, &se) || se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 1, 1}) {
			t.Errorf("RCPT %s: err = %v, want 550 5.1.1", c.to, err)
		}
	}
	if n := count(t, db, "true"); n != 0 {
		t.Errorf("%d messages stored, want 0", n)
	}
}

// Beyond the size limit a message is refused 552; a large one under it is
// stored whole.
func TestSizeLimit(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	p, db := newProcessor(t, limit)
	smtpAddr, _ := startListener(t, p, ListenerOptions{})
	line := strings.Repeat("あ", 25) + "\r\n" // 77 bytes
	big := testMessage(1, strings.Repeat(line, (limit-1024)/len(line)))
	over := testMessage(2, strings.Repeat(line, limit/len(line)+10))
	if len(big) >= limit || len(over) <= limit {
		t.Fatalf("sizes %d and %d do not straddle %d", len(big), len(over), limit)
	}
	err := sendVia(smtpAddr, false, "taro@example.jp", []string{inboundAddr}, over)
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 552 {
		t.Errorf("oversize message: err = %v, want 552", err)
	}
	if err := sendVia(smtpAddr, false, "taro@example.jp", []string{inboundAddr}, big); err != nil {
		t.Fatalf("large message under the limit: %v", err)
	}
	var raw []byte
	if err := db.Get(&raw, `SELECT raw FROM inbound_messages`); err != nil {
		t.Fatalf("stored messages: %v (want exactly the large one)", err)
	}
	if !bytes.Equal(raw, big) {
		t.Errorf("stored %d bytes, want the %d sent, unchanged", len(raw), len(big))
	}
}

// Store keeps the first MaxBytes bytes of a longer message (an IMAP one),
// marks it truncated with its full size, and dedupes on the whole message.
func TestStoreTruncatesAndDedupes(t *testing.T) {
	t.Parallel()
	p, db := newProcessor(t, 1000)
	ctx := context.Background()
	long := testMessage(1, strings.Repeat("x", 5000))
	id, dup, err := p.Store(ctx, SourceIMAP, "", nil, long)
	if err != nil || dup {
		t.Fatalf("Store: %d %v %v", id, dup, err)
	}
	// The same first 1000 bytes, a different tail: another message.
	other := append(bytes.Clone(long[:len(long)-1]), 'y')
	id2, dup, err := p.Store(ctx, SourceIMAP, "", nil, other)
	if err != nil || dup || id2 == id {
		t.Fatalf("Store of a message differing after the limit: %d %v %v", id2, dup, err)
	}
	id3, dup, err := p.Store(ctx, SourceSMTP, "x@example.jp", []string{inboundAddr}, long)
	if err != nil || !dup || id3 != id {
		t.Fatalf("Store again: id %d dup %v err %v, want %d true", id3, dup, err, id)
	}
	var got struct {
		Len       int  `db:"len"`
		Size      int  `db:"size"`
		Truncated bool `db:"truncated"`
	}
	db.Get(&got, `SELECT length(raw) AS len, size, truncated FROM inbound_messages WHERE id = $1`, id)
	if got.Len != 1000 || got.Size != len(long) || !got.Truncated {
		t.Errorf("stored %+v, want 1000 bytes of %d, truncated", got, len(long))
	}
}

// 60 messages over 5 concurrent connections: all 60 stored, none lost.
func TestConcurrentConnectionsLoseNothing(t *testing.T) {
	t.Parallel()
	p, db := newProcessor(t, 0)
	smtpAddr, _ := startListener(t, p, ListenerOptions{})
	var wg sync.WaitGroup
	errs := make(chan error, 60)
	for c := 0; c < 5; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", smtpAddr)
			if err != nil {
				errs <- err
				return
			}
			cl := smtp.NewClient(conn)
			defer cl.Close()
			for i := 0; i < 12; i++ {
				if err := cl.SendMail("taro@example.jp", []string{inboundAddr}, bytes.NewReader(testMessage(c*100+i, ""))); err != nil {
					errs <- err
				}
			}
			cl.Quit()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := count(t, db, "true"); n != 60 {
		t.Errorf("%d messages stored, want 60", n)
	}
}

// One connection more than the limit is answered 421 and closed; a freed
// slot is taken again.
func TestMaxConnections(t *testing.T) {
	t.Parallel()
	p, _ := newProcessor(t, 0)
	smtpAddr, _ := startListener(t, p, ListenerOptions{MaxConnections: 2})
	greet := func() (net.Conn, string) {
		c, err := net.Dial("tcp", smtpAddr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 200)
		n, _ := c.Read(buf)
		return c, string(buf[:n])
	}
	a, ga := greet()
	b, gb := greet()
	if !strings.HasPrefix(ga, "220") || !strings.HasPrefix(gb, "220") {
		t.Fatalf("greetings %q %q", ga, gb)
	}
	c, gc := greet()
	c.Close()
	if !strings.HasPrefix(gc, "421") {
		t.Errorf("third connection: %q, want 421", gc)
	}
	a.Close()
	waitFor(t, "a freed slot", 5*time.Second, func() bool {
		d, g := greet()
		d.Close()
		return strings.HasPrefix(g, "220")
	})
	b.Close()
}

// Two processors running at once over 200 stored messages process each
// exactly once.
func TestTwoProcessorsProcessEachMessageOnce(t *testing.T) {
	t.Parallel()
	p1, db := newProcessor(t, 0)
	p2, err := New(Options{DB: db.DB, Address: inboundAddr})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 200; i++ {
		if _, _, err := p1.Store(ctx, SourceSMTP, "", []string{inboundAddr}, testMessage(i, "")); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for _, p := range []*Processor{p1, p2, p1, p2} { // two loops each
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := p.Drain(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := p1.Processed() + p2.Processed(); got != 200 {
		t.Errorf("processed %d + %d = %d times, want 200", p1.Processed(), p2.Processed(), got)
	}
	if n := count(t, db, "processed_at IS NOT NULL AND class = 'human_reply'"); n != 200 {
		t.Errorf("%d processed, want 200", n)
	}
	t.Logf("processor 1: %d, processor 2: %d", p1.Processed(), p2.Processed())
}

// A message whose processing fails keeps the error, stays unprocessed and
// is processed by a later pass once the cause is gone; others are not held
// up. Reprocess processes stored messages again.
func TestFailureIsRetriedAndReprocess(t *testing.T) {
	t.Parallel()
	p, db := newProcessor(t, 0)
	ctx := context.Background()
	// The database refuses to mark the message saying FAIL processed.
	if _, err := db.Exec(`CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.processed_at IS NOT NULL AND position('FAIL' in convert_from(NEW.raw, 'UTF8')) > 0
		THEN RAISE EXCEPTION 'refused on purpose'; END IF; RETURN NEW; END $$;
		CREATE TRIGGER refuse BEFORE UPDATE ON inbound_messages FOR EACH ROW EXECUTE FUNCTION refuse();`); err != nil {
		t.Fatal(err)
	}
	bad, _, _ := p.Store(ctx, SourceSMTP, "", nil, testMessage(1, "FAIL"))
	good, _, _ := p.Store(ctx, SourceSMTP, "", nil, testMessage(2, ""))
	n, err := p.Drain(ctx)
	if n != 1 || err == nil || !strings.Contains(err.Error(), "refused on purpose") {
		t.Fatalf("Drain: %d, %v; want 1 processed and the refusal", n, err)
	}
	var msg string
	db.Get(&msg, `SELECT error FROM inbound_messages WHERE id = $1 AND processed_at IS NULL`, bad)
	if !strings.Contains(msg, "refused on purpose") {
		t.Errorf("error column %q", msg)
	}
	if count(t, db, "id = $1 AND processed_at IS NOT NULL", good) != 1 {
		t.Error("the good message was held up by the bad one")
	}
	// Waiting out its retry, it is left alone.
	if n, err := p.Drain(ctx); n != 0 || err != nil {
		t.Errorf("Drain during the retry wait: %d %v", n, err)
	}
	db.MustExec(`DROP TRIGGER refuse ON inbound_messages`)
	runProcessor(t, p)
	waitFor(t, "the retry", 5*time.Second, func() bool {
		return count(t, db, "id = $1 AND processed_at IS NOT NULL AND error = ''", bad) == 1
	})

	before := p.Processed()
	rep, err := p.Reprocess(ctx, time.Now().Add(-time.Hour))
	if rep.Reset != 2 || len(rep.Unreadable) != 0 || err != nil {
		t.Fatalf("Reprocess: %+v %v", rep, err)
	}
	if count(t, db, "processed_at IS NOT NULL AND class = 'human_reply'") != 2 {
		t.Error("not every message reprocessed")
	}
	if got := p.Processed() - before; got != 2 {
		t.Errorf("reprocessing processed %d, want 2 (each once, Run running meanwhile)", got)
	}
	if rep, err := p.Reprocess(ctx, time.Now().Add(time.Hour)); rep.Reset != 0 || err != nil {
		t.Errorf("Reprocess of the future: %+v %v", rep, err)
	}
}

func TestParseListen(t *testing.T) {
	t.Parallel()
	got, err := ParseListen("smtp://0.0.0.0:25, lmtp://127.0.0.1:2424 127.0.0.1:2525,lmtp:///run/kizuna/lmtp.sock")
	if err != nil {
		t.Fatal(err)
	}
	want := []Endpoint{{false, "tcp", "0.0.0.0:25"}, {true, "tcp", "127.0.0.1:2424"}, {false, "tcp", "127.0.0.1:2525"}, {true, "unix", "/run/kizuna/lmtp.sock"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"", "http://x:1", "smtp://host", "nohost", "smtp:///sock"} {
		if _, err := ParseListen(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
