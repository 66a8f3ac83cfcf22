package mailer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/internal/smtptest"
)

// message renders a small RFC 5322 message for tests.
func message(i int, to string) []byte {
	return fmt.Appendf(nil, "From: HR <hr@example.co.jp>\r\nTo: %s\r\nSubject: test %d\r\n"+
		"Message-ID: <m%d.test@example.co.jp>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n"+
		"Hello %d\r\n.leading dot\r\n", to, i, i, i)
}

func env(i int) Envelope {
	to := fmt.Sprintf("alum%d@example.jp", i)
	return Envelope{From: "bounce@example.co.jp", To: to, Data: message(i, to)}
}

func newSender(t *testing.T, rawURL string, opts ...Option) Sender {
	t.Helper()
	r, err := ParseRelay(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	s := NewSender(r, opts...)
	t.Cleanup(func() { s.Close() })
	return s
}

// writePaths are the three ways a message goes out, by the relay's
// extensions: BDAT in one write (PIPELINING and CHUNKING), pipelined
// MAIL/RCPT/DATA (PIPELINING only), one command at a time (neither). The
// test server offers both extensions; the options turn them down.
var writePaths = []struct {
	name string
	opts []Option
	verb string // the command that carries the message
}{
	{"bdat", nil, "BDAT"},
	{"pipelined-data", []Option{func(o *options) { o.noChunking = true }}, "DATA"},
	{"plain", []Option{func(o *options) { o.noPipelining = true }}, "DATA"},
}

func sendAll(t *testing.T, s Sender, n int) {
	t.Helper()
	for i := range n {
		if err := s.Send(context.Background(), env(i)); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
}

func TestReusesOneConnection(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	s := newSender(t, srv.URL())
	sendAll(t, s, 20)
	if got := srv.Connections(); got != 1 {
		t.Errorf("20 messages used %d connections, want 1", got)
	}
	if !strings.HasPrefix(s.LastReply(), "250") {
		t.Errorf("LastReply() = %q", s.LastReply())
	}
	msgs := srv.Messages()
	if len(msgs) != 20 {
		t.Fatalf("server got %d messages", len(msgs))
	}
	m := msgs[7]
	if m.From != "bounce@example.co.jp" || m.To[0] != "alum7@example.jp" || m.Header("Subject") != "test 7" {
		t.Errorf("message 7 arrived as from=%q to=%q subject=%q", m.From, m.To, m.Header("Subject"))
	}
	if !strings.Contains(string(m.Data), "\r\n.leading dot\r\n") {
		t.Errorf("dot-stuffing broke the body: %q", m.Data)
	}
}

func TestCapsMessagesPerConnection(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	s := newSender(t, srv.URL()+"&max_per_conn=10")
	sendAll(t, s, 25)
	if got := srv.Connections(); got != 3 {
		t.Errorf("25 messages at max_per_conn=10 used %d connections, want 3", got)
	}
	if got := srv.Accepted(); got != 25 {
		t.Errorf("accepted %d, want 25", got)
	}
}

func TestRedialsAfterDroppedConnection(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	var mails atomic.Int32
	srv.SetFault(func(stage smtptest.Stage, _ string, _ []string) error {
		// The relay drops the kept connection when the 4th message starts.
		if stage == smtptest.StageMail && mails.Add(1) == 4 {
			return smtptest.ErrDrop
		}
		return nil
	})
	s := newSender(t, srv.URL())
	sendAll(t, s, 6) // the 4th is retried once on a fresh connection
	if got := srv.Connections(); got != 2 {
		t.Errorf("connections = %d, want 2 (one redial)", got)
	}
	if got := srv.Accepted(); got != 6 {
		t.Errorf("accepted %d, want 6", got)
	}
}

func TestDropDuringDataIsTemporaryAndRedials(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	var datas atomic.Int32
	srv.SetFault(func(stage smtptest.Stage, _ string, _ []string) error {
		if stage == smtptest.StageData && datas.Add(1) == 2 {
			return smtptest.ErrDrop
		}
		return nil
	})
	s := newSender(t, srv.URL())
	sendAll(t, s, 1)
	err := s.Send(context.Background(), env(1))
	if Classify(err) != Temporary {
		t.Fatalf("drop during DATA: %v (%v), want temporary", err, Classify(err))
	}
	var se *SendError
	if !errors.As(err, &se) || se.Stage != StageData || se.Code == 421 && se.Text == "" {
		t.Errorf("error = %#v", err)
	}
	if err := s.Send(context.Background(), env(2)); err != nil {
		t.Fatalf("send after drop: %v", err)
	}
	if got := srv.Connections(); got != 2 {
		t.Errorf("connections = %d, want 2", got)
	}
}

// TestReplies drives each fault through a real session and checks the
// outcome, the recorded reply and that the session stays usable (RSET).
func TestReplies(t *testing.T) {
	t.Parallel()
	cases := []struct {
		stage    smtptest.Stage
		code     int
		enhanced string
		text     string
		want     Outcome
	}{
		{smtptest.StageRcpt, 451, "4.3.0", "try again later", Temporary},
		{smtptest.StageMail, 451, "4.3.0", "local error", Temporary},
		{smtptest.StageData, 451, "4.7.1", "greylisted", Temporary},
		{smtptest.StageRcpt, 550, "5.1.1", "no such user", HardBounce},
		{smtptest.StageRcpt, 550, "5.1.10", "null MX", HardBounce},
		{smtptest.StageRcpt, 550, "5.7.1", "recipient refuses mail from you", Permanent},
		{smtptest.StageRcpt, 552, "5.2.2", "mailbox over quota", Permanent},
		{smtptest.StageMail, 550, "5.7.1", "sender not allowed", SenderRejected},
		{smtptest.StageMail, 553, "5.1.8", "bad sender domain", SenderRejected},
		{smtptest.StageData, 552, "5.3.4", "message too big", Permanent},
		{smtptest.StageData, 554, "5.6.0", "content rejected", Permanent},
		{smtptest.StageData, 550, "5.7.26", "unauthenticated email from example.co.jp is not accepted due to DMARC", SenderRejected},
		{smtptest.StageRcpt, 452, "4.5.3", "too many recipients", Temporary},
		{smtptest.StageRcpt, 550, "5.4.5", "Daily user sending quota exceeded", RelayUnavailable},
		{smtptest.StageMail, 421, "4.7.28", "rate limited", RelayUnavailable},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s_%d_%s", c.stage, c.code, c.enhanced), func(t *testing.T) {
			t.Parallel()
			srv := smtptest.Start(t)
			srv.SetFault(func(stage smtptest.Stage, _ string, to []string) error {
				if stage == c.stage && (len(to) == 0 || to[0] == "alum1@example.jp") {
					return smtptest.Reply(c.code, c.enhanced, c.text)
				}
				return nil
			})
			s := newSender(t, srv.URL())
			if c.stage != smtptest.StageMail {
				sendAll(t, s, 1)
			}
			err := s.Send(context.Background(), env(1))
			var se *SendError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *SendError", err)
			}
			if se.Outcome != c.want || Classify(err) != c.want {
				t.Errorf("%s %d %s: outcome %v, want %v", c.stage, c.code, c.enhanced, se.Outcome, c.want)
			}
			if se.Code != c.code || se.Enhanced != c.enhanced || se.Text != c.text || string(se.Stage) != string(c.stage) {
				t.Errorf("recorded %s %d %q %q, want %s %d %q %q", se.Stage, se.Code, se.Enhanced, se.Text,
					c.stage, c.code, c.enhanced, c.text)
			}
			if want := fmt.Sprintf("%d %s %s", c.code, c.enhanced, c.text); se.Reply() != want {
				t.Errorf("Reply() = %q, want %q", se.Reply(), want)
			}
			if c.stage == smtptest.StageMail || c.code == 421 {
				return
			}
			// The session survives a refused transaction: the next message
			// goes over the same connection.
			if err := s.Send(context.Background(), env(2)); err != nil {
				t.Fatalf("next message: %v", err)
			}
			if got := srv.Connections(); got != 1 {
				t.Errorf("connections = %d, want 1 (RSET, not redial)", got)
			}
		})
	}
}

func TestHonoursContextDeadline(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	srv.SetFault(func(stage smtptest.Stage, _ string, _ []string) error {
		if stage == smtptest.StageData {
			<-release // a relay that never answers the final "."
		}
		return nil
	})
	s := newSender(t, srv.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := s.Send(ctx, env(1))
	if Classify(err) != Temporary || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send past its deadline = %v, want a temporary DeadlineExceeded", err)
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	srv.RequireAuth("hr@example.co.jp", "c0rrect-horse")
	host := strings.TrimPrefix(strings.TrimSuffix(srv.URL(), "?tls=none"), "smtp://")

	good := newSender(t, "smtp://hr%40example.co.jp:c0rrect-horse@"+host+"?tls=none")
	sendAll(t, good, 2)

	bad := newSender(t, "smtp://hr%40example.co.jp:wr0ng-horse@"+host+"?tls=none")
	err := bad.Send(context.Background(), env(1))
	var se *SendError
	if !errors.As(err, &se) || se.Outcome != SenderRejected || se.Stage != StageAuth || se.Code != 535 || se.Enhanced != "5.7.8" {
		t.Fatalf("wrong password: %v, want 535 5.7.8 at AUTH, sender_rejected", err)
	}
	if strings.Contains(err.Error(), "wr0ng") {
		t.Errorf("error leaks the password: %v", err)
	}

	anon := newSender(t, srv.URL())
	err = anon.Send(context.Background(), env(1))
	if !errors.As(err, &se) || se.Outcome != SenderRejected || se.Stage != StageMail || se.Code != 530 {
		t.Fatalf("no login: %v, want 530 at MAIL, sender_rejected", err)
	}
	if got := srv.Accepted(); got != 2 {
		t.Errorf("accepted %d, want only the 2 authenticated", got)
	}
}

func TestStartTLSRequiredButNotOffered(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	s := newSender(t, fmt.Sprintf("smtp://hr:pw-secret@%s", srv.Addr)) // STARTTLS required by default
	err := s.Send(context.Background(), env(1))
	var se *SendError
	if !errors.As(err, &se) || se.Stage != StageStartTLS || se.Outcome != SenderRejected {
		t.Fatalf("err = %v, want STARTTLS sender_rejected", err)
	}
	if !strings.Contains(err.Error(), "does not offer STARTTLS") || strings.Contains(err.Error(), "pw-secret") {
		t.Errorf("unclear or leaking error: %v", err)
	}
	if srv.Accepted() != 0 {
		t.Error("a message went out in plain text")
	}
}

func TestImplicitTLSAgainstPlainServer(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	s := newSender(t, fmt.Sprintf("smtps://%s?timeout=5s", srv.Addr))
	err := s.Send(context.Background(), env(1))
	if Classify(err) != SenderRejected || srv.Accepted() != 0 {
		t.Fatalf("smtps to a plain server: %v (%v)", err, Classify(err))
	}
}

func TestOpportunisticFallsBackToPlain(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	s := newSender(t, fmt.Sprintf("smtp://%s?tls=opportunistic", srv.Addr))
	sendAll(t, s, 1)
}

func TestConnectionRefusedMeansTheRelayIsUnavailable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there any more
	s := newSender(t, "smtp://"+addr+"?tls=none")
	if err := s.Send(context.Background(), env(1)); Classify(err) != RelayUnavailable {
		t.Fatalf("refused connection: %v", err)
	}
}

// TestReconnectsAfter421ClosesTheSession: a relay that ends every session
// after a few messages with "421 4.7.0 Too many messages in this
// connection" gets a fresh connection and every message, and Kizuna learns
// the cap (it quits before the relay has to say it again).
func TestReconnectsAfter421ClosesTheSession(t *testing.T) {
	t.Parallel()
	for _, path := range writePaths {
		t.Run(path.name, func(t *testing.T) {
			t.Parallel()
			srv := smtptest.Start(t)
			srv.SetSessionLimit(3)
			s := newSender(t, srv.URL(), path.opts...)
			sendAll(t, s, 20) // fails the test on any error
			if srv.Accepted() != 20 {
				t.Fatalf("accepted %d of 20", srv.Accepted())
			}
			if dups := len(srv.Messages()) - 20; dups != 0 {
				t.Fatalf("%d duplicates", dups)
			}
			// 1 session ended by the relay, then sessions of 3 that Kizuna
			// closes itself: 1 + ceil(17/3) = 7.
			if got := srv.Connections(); got != 7 {
				t.Errorf("sessions = %d, want 7 (the cap learnt after the first 421)", got)
			}
		})
	}
}

// TestPersistent421IsRelayUnavailable: a relay that answers 421 to every
// message, on fresh connections too, holds the run (RelayUnavailable), it
// does not fail the delivery or pause the run.
func TestPersistent421IsRelayUnavailable(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	srv.SetFault(func(stage smtptest.Stage, _ string, _ []string) error {
		if stage == smtptest.StageRcpt {
			return smtptest.Reply(421, "4.7.0", "Too many messages in this connection")
		}
		return nil
	})
	s := newSender(t, srv.URL())
	err := s.Send(context.Background(), env(1))
	if Classify(err) != RelayUnavailable {
		t.Fatalf("421 on every connection: %v, want relay_unavailable", err)
	}
	if got := srv.Connections(); got != 1+maxReconnects {
		t.Errorf("sessions = %d, want %d (one try and %d fresh connections)", got, 1+maxReconnects, maxReconnects)
	}
}

// Test421AtGreetingIsRelayUnavailable: a relay that turns sessions away
// at EHLO is unavailable, not a sender problem and not a delivery failure.
func Test421AtGreetingIsRelayUnavailable(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	srv.SetGreetingFault(smtptest.Reply(421, "4.3.2", "Service not available, closing transmission channel"))
	s := newSender(t, srv.URL())
	err := s.Send(context.Background(), env(1))
	var se *SendError
	if !errors.As(err, &se) || se.Outcome != RelayUnavailable || se.Stage != StageConnect {
		t.Fatalf("421 at greeting: %v, want CONNECT relay_unavailable", err)
	}
	srv.SetGreetingFault(nil)
	sendAll(t, s, 2)
}

// TestStoppedRelayComesBack: while the relay is stopped every Send is
// RelayUnavailable; once it listens again the same Sender delivers.
func TestStoppedRelayComesBack(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	s := newSender(t, srv.URL())
	sendAll(t, s, 2)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.Send(context.Background(), env(10+i)); Classify(err) != RelayUnavailable {
			t.Fatalf("relay stopped, send %d: %v, want relay_unavailable", i, err)
		}
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	sendAll(t, s, 2)
	if srv.Accepted() != 4 {
		t.Errorf("accepted %d, want 4", srv.Accepted())
	}
}

// TestHELONeverSaysLocalhost: the EHLO name is the relay URL's helo=, else
// this machine's fully qualified name, else the envelope sender's domain.
func TestHELONeverSaysLocalhost(t *testing.T) {
	t.Parallel()
	cases := []struct {
		helo, hostname, want string
	}{
		{"", "mx1.example.co.jp", "mx1.example.co.jp"},
		{"", "kizuna-7f9c", "example.co.jp"}, // container names are not FQDNs
		{"", "localhost", "example.co.jp"},
		{"", "build.localdomain", "example.co.jp"},
		{"out.example.co.jp", "mx1.example.co.jp", "out.example.co.jp"},
	}
	for _, c := range cases {
		srv := smtptest.Start(t)
		u := srv.URL()
		if c.helo != "" {
			u += "&helo=" + c.helo
		}
		host := c.hostname
		s := newSender(t, u, func(o *options) { o.hostname = func() (string, error) { return host, nil } })
		sendAll(t, s, 1)
		if got := srv.Helos(); len(got) != 1 || got[0] != c.want {
			t.Errorf("helo=%q hostname=%q: EHLO %v, want %q", c.helo, c.hostname, got, c.want)
		}
	}
	// Without any name at all: an address literal, never "localhost".
	if got := heloName("", func() (string, error) { return "localhost", nil }, "", &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7)}); got != "[192.0.2.7]" {
		t.Errorf("no name: %q, want [192.0.2.7]", got)
	}
}

func TestBadEnvelopeIsPermanent(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	s := newSender(t, srv.URL())
	for _, e := range []Envelope{
		{From: "a@b.jp", To: "x@y.jp>\r\nRCPT TO:<evil@z.jp", Data: []byte("x")},
		{From: "a@b.jp", To: "", Data: []byte("x")},
		{From: "a@b.jp", To: "x@y.jp", Data: nil},
	} {
		if err := s.Send(context.Background(), e); Classify(err) != Permanent {
			t.Errorf("Send(%q) = %v, want permanent", e.To, err)
		}
	}
	if srv.Connections() != 0 {
		t.Error("a bad envelope reached the relay")
	}
}

func TestReadableMessageOnServer(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	s := newSender(t, srv.URL())
	sendAll(t, s, 1)
	m, err := mail.ReadMessage(strings.NewReader(string(srv.Messages()[0].Data)))
	if err != nil || m.Header.Get("Message-Id") != "<m0.test@example.co.jp>" {
		t.Fatalf("message not readable: %v", err)
	}
}

// TestDataIsTransparent sends bodies with leading dots, bare LF and no final
// line end over every write path and compares what the server stored: a
// message with clean CRLF line ends goes as one BDAT chunk where the relay
// offers CHUNKING, one with bare LFs through DATA, which fixes them.
func TestDataIsTransparent(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"Subject: a\r\n\r\n.first\r\nmid\r\n..two\r\n.\r\nend\r\n", "Subject: a\r\n\r\n.first\r\nmid\r\n..two\r\n.\r\nend\r\n"},
		{".Subject: a\r\n\r\nno final newline", ".Subject: a\r\n\r\nno final newline\r\n"},
		{"Subject: b\n\n.bare lf\nbody\n", "Subject: b\r\n\r\n.bare lf\r\nbody\r\n"},
	}
	for _, path := range writePaths {
		srv := smtptest.Start(t)
		s := newSender(t, srv.URL(), path.opts...)
		for i, c := range cases {
			if err := s.Send(context.Background(), Envelope{From: "b@example.co.jp", To: "x@example.jp", Data: []byte(c.in)}); err != nil {
				t.Fatalf("%s case %d: %v", path.name, i, err)
			}
		}
		for i, m := range srv.Messages() {
			if string(m.Data) != cases[i].want {
				t.Errorf("%s case %d: server got %q, want %q", path.name, i, m.Data, cases[i].want)
			}
		}
		want := []string{path.verb, path.verb, "DATA"} // the bare-LF message always takes DATA
		if got := srv.DataCommands(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: the messages went with %v, want %v", path.name, got, want)
		}
	}
}

// Messages of any size, one after another on one session, arrive byte
// for byte on every write path: the buffer a BDAT transaction is
// assembled in is reused for the next message, and one above maxKeptTx is
// not kept.
func TestMessagesOfAnySizeArriveWhole(t *testing.T) {
	t.Parallel()
	sizes := []int{100, 8 << 10, maxKeptTx + 1000, 300, 4090, 4096, 5000}
	for _, path := range writePaths {
		srv := smtptest.Start(t)
		s := newSender(t, srv.URL(), path.opts...)
		var want []string
		for i, n := range sizes {
			head := fmt.Sprintf("Subject: %d\r\n\r\n", i)
			line := strings.Repeat(string(rune('a'+i)), 70) + "\r\n"
			body := strings.Repeat(line, (n-len(head))/len(line)+1)
			want = append(want, head+body)
			if err := s.Send(context.Background(), Envelope{From: "b@example.co.jp", To: "x@example.jp", Data: []byte(head + body)}); err != nil {
				t.Fatalf("%s message %d: %v", path.name, i, err)
			}
		}
		got := srv.Messages()
		if len(got) != len(want) || srv.Connections() != 1 {
			t.Fatalf("%s: %d messages over %d connections, want %d over 1", path.name, len(got), srv.Connections(), len(want))
		}
		for i := range want {
			if string(got[i].Data) != want[i] {
				t.Errorf("%s message %d (%d bytes): the server got %d bytes that differ", path.name, i, len(want[i]), len(got[i].Data))
			}
		}
	}
}

// TestRepliesOnEveryWritePath: a refused RCPT and a refused message give
// the same outcomes whichever way the message goes out, and the session
// carries on.
func TestRepliesOnEveryWritePath(t *testing.T) {
	t.Parallel()
	for _, path := range writePaths {
		t.Run(path.name, func(t *testing.T) {
			t.Parallel()
			testReplies(t, path.opts...)
		})
	}
}

func testReplies(t *testing.T, opts ...Option) {
	srv := smtptest.Start(t)
	srv.SetFault(func(stage smtptest.Stage, _ string, to []string) error {
		switch {
		case stage == smtptest.StageRcpt && to[0] == "alum1@example.jp":
			return smtptest.Reply(550, "5.1.1", "no such user")
		case stage == smtptest.StageData && to[0] == "alum2@example.jp":
			return smtptest.Reply(451, "4.3.0", "later")
		}
		return nil
	})
	s := newSender(t, srv.URL(), opts...)
	for i, want := range []Outcome{OK, HardBounce, Temporary, OK} {
		if got := Classify(s.Send(context.Background(), env(i))); got != want {
			t.Errorf("message %d: %v, want %v", i, got, want)
		}
	}
	if srv.Connections() != 1 || srv.Accepted() != 2 {
		t.Errorf("connections %d accepted %d, want 1 and 2", srv.Connections(), srv.Accepted())
	}
}

func TestIdleConnectionIsRedialled(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	s := newSender(t, srv.URL(), WithIdleLimit(-1)) // every connection counts as idle
	sendAll(t, s, 3)
	if got := srv.Connections(); got != 3 {
		t.Errorf("connections = %d, want 3 (one per message)", got)
	}
}
