package inbound

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

const imapPassword = "imap-Pa55-secret"

// imapServer is go-imap's in-memory IMAP server on a loopback port; it can
// be stopped and started again on the same port with the same mailboxes.
type imapServer struct {
	t    *testing.T
	mem  *imapmemserver.Server
	user *imapmemserver.User
	caps imap.CapSet
	addr string

	mu  sync.Mutex
	srv *imapserver.Server
}

func startIMAP(t *testing.T, caps imap.CapSet) *imapServer {
	t.Helper()
	s := &imapServer{t: t, mem: imapmemserver.New(), user: imapmemserver.NewUser("kizuna", imapPassword), caps: caps, addr: "127.0.0.1:0"}
	if err := s.user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	s.mem.AddUser(s.user)
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *imapServer) start() {
	s.t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the old port may take a moment to be free
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return s.mem.NewSession(), nil, nil
		},
		Caps:         s.caps,
		InsecureAuth: true,
		Logger:       quietIMAPLog{},
	})
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go srv.Serve(ln)
}

func (s *imapServer) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		s.srv.Close()
		s.srv = nil
	}
}

type quietIMAPLog struct{}

func (quietIMAPLog) Printf(string, ...any) {}

type literal struct {
	*bytes.Reader
}

func (l literal) Size() int64 { return int64(l.Reader.Len()) }

// deliver appends a message to INBOX, as a mail server would.
func (s *imapServer) deliver(raw []byte) {
	s.t.Helper()
	if _, err := s.user.Append("INBOX", literal{bytes.NewReader(raw)}, &imap.AppendOptions{}); err != nil {
		s.t.Fatal(err)
	}
}

// count is how many messages a mailbox holds (0 when it does not exist).
func (s *imapServer) count(mailbox string) int {
	st, err := s.user.Status(mailbox, &imap.StatusOptions{NumMessages: true})
	if err != nil {
		return 0
	}
	return int(*st.NumMessages)
}

// runPoller runs a poller on s until the returned stop is called.
func runPoller(t *testing.T, p *Processor, s *imapServer, o PollerOptions) (stop func()) {
	t.Helper()
	target, err := ParseIMAPURL("imap://kizuna:" + imapPassword + "@" + s.addr + "/INBOX")
	if err != nil {
		t.Fatal(err)
	}
	o.Target = target
	o.MinBackoff, o.MaxBackoff = 50*time.Millisecond, 200*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.NewPoller(o).Run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// Ten messages in the mailbox are stored once each and moved to
// Kizuna/Processed; a new poller (a restart) stores nothing twice, even
// when the moves were lost; a message delivered while the poller idles is
// stored within a second or two; the password appears in no log line.
func TestIMAPPollerStoresMovesAndIdles(t *testing.T) {
	t.Parallel()
	var logs safeBuffer
	p, db := newProcessor(t, 0)
	p.log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := startIMAP(t, imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}})
	for i := 0; i < 10; i++ {
		s.deliver(testMessage(i, ""))
	}
	runProcessor(t, p)
	stop := runPoller(t, p, s, PollerOptions{})
	waitFor(t, "10 messages moved", 10*time.Second, func() bool { return s.count("Kizuna/Processed") == 10 })
	if n := s.count("INBOX"); n != 0 {
		t.Errorf("INBOX still holds %d", n)
	}
	if n := count(t, db, "source = 'imap'"); n != 10 {
		t.Errorf("%d stored, want 10", n)
	}
	waitFor(t, "10 processed", 10*time.Second, func() bool { return count(t, db, "processed_at IS NOT NULL") == 10 })

	// IDLE: a message delivered now is picked up without waiting for the
	// 30-s poll.
	time.Sleep(200 * time.Millisecond) // the poller is idling
	start := time.Now()
	s.deliver(testMessage(10, ""))
	waitFor(t, "the message delivered while idling", 3*time.Second, func() bool { return count(t, db, "true") == 11 })
	t.Logf("picked up %v after delivery while idling", time.Since(start).Round(time.Millisecond))
	stop()

	// A crash between store and move: the messages are back in INBOX;
	// a new poller moves them again and stores none twice.
	for i := 0; i < 11; i++ {
		s.deliver(testMessage(i, ""))
	}
	runPoller(t, p, s, PollerOptions{})
	waitFor(t, "the redelivered messages moved", 10*time.Second, func() bool { return s.count("Kizuna/Processed") == 22 })
	if n := count(t, db, "true"); n != 11 {
		t.Errorf("%d stored after the restart, want 11 (nothing twice)", n)
	}
	if strings.Contains(logs.String(), imapPassword) {
		t.Errorf("the logs show the IMAP password:\n%s", logs.String())
	}
}

// A server without MOVE (IMAP4rev1 only): COPY, then \Deleted and EXPUNGE;
// polling every interval when IDLE is not used.
func TestIMAPPollerWithoutMoveOrIdle(t *testing.T) {
	t.Parallel()
	p, db := newProcessor(t, 0)
	s := startIMAP(t, imap.CapSet{imap.CapIMAP4rev1: {}})
	s.deliver(testMessage(1, ""))
	runPoller(t, p, s, PollerOptions{NoIdle: true, Interval: 100 * time.Millisecond, Folder: "Done/Kizuna"})
	waitFor(t, "the message moved", 10*time.Second, func() bool { return s.count("Done/Kizuna") == 1 })
	s.deliver(testMessage(2, ""))
	waitFor(t, "the second message moved by a poll", 10*time.Second, func() bool { return s.count("Done/Kizuna") == 2 })
	if n := s.count("INBOX"); n != 0 {
		t.Errorf("INBOX holds %d, want 0 (expunged)", n)
	}
	if n := count(t, db, "source = 'imap'"); n != 2 {
		t.Errorf("%d stored, want 2", n)
	}
}

// The poller reconnects after the server restarts and reads what arrived
// meanwhile.
func TestIMAPPollerReconnects(t *testing.T) {
	t.Parallel()
	p, db := newProcessor(t, 0)
	s := startIMAP(t, imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}})
	s.deliver(testMessage(1, ""))
	runPoller(t, p, s, PollerOptions{})
	waitFor(t, "the first message", 10*time.Second, func() bool { return count(t, db, "true") == 1 })
	s.stop()
	s.deliver(testMessage(2, "")) // while the server is down
	time.Sleep(300 * time.Millisecond)
	s.start()
	waitFor(t, "the message delivered while the server was down", 10*time.Second, func() bool { return count(t, db, "true") == 2 })
	waitFor(t, "both moved", 10*time.Second, func() bool { return s.count("Kizuna/Processed") == 2 })
}

func TestParseIMAPURL(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		raw                       string
		tls, plain                bool
		addr, user, pass, mailbox string
	}{
		{"imaps://hr%40example.co.jp:p%2Fw@imap.gmail.com/INBOX", true, false, "imap.gmail.com:993", "hr@example.co.jp", "p/w", "INBOX"},
		{"imap://u:pw@mail.example.co.jp", false, false, "mail.example.co.jp:143", "u", "pw", "INBOX"},
		{"imap://u:pw@127.0.0.1:1143/Replies/Kizuna", false, true, "127.0.0.1:1143", "u", "pw", "Replies/Kizuna"},
		{"imap://u:pw@mail.example.co.jp:143/INBOX?tls=none", false, true, "mail.example.co.jp:143", "u", "pw", "INBOX"},
	} {
		got, err := ParseIMAPURL(c.raw)
		if err != nil {
			t.Errorf("%s: %v", c.raw, err)
			continue
		}
		if got.TLS != c.tls || got.Plain != c.plain || got.Addr != c.addr || got.User != c.user || got.password != c.pass || got.Mailbox != c.mailbox {
			t.Errorf("%s: %+v", c.raw, got)
		}
		if strings.Contains(got.String(), c.pass) {
			t.Errorf("%s: String shows the password: %s", c.raw, got)
		}
	}
	for _, bad := range []string{"https://u:secretpw@x/", "imaps://secretpw@/INBOX", "imaps://host/INBOX", "imaps://u:secretpw@host:bad/"} {
		_, err := ParseIMAPURL(bad)
		if err == nil {
			t.Errorf("%s accepted", bad)
		} else if strings.Contains(err.Error(), "secretpw") {
			t.Errorf("%s: error shows the password: %v", bad, err)
		}
	}
}

// safeBuffer is a bytes.Buffer for concurrent writers.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
