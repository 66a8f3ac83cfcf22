package inbound

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

// Endpoint is one address the intake listens on.
type Endpoint struct {
	LMTP    bool   // LMTP (RFC 2033) instead of SMTP
	Network string // "tcp" or "unix"
	Address string // host:port, or a socket path
}

func (e Endpoint) String() string {
	scheme := "smtp"
	if e.LMTP {
		scheme = "lmtp"
	}
	return scheme + "://" + e.Address // a socket path starts with '/': lmtp:///PATH
}

// ParseListen reads KIZUNA_INBOUND_LISTEN: one or more endpoints separated
// by commas or spaces, each
//
//	smtp://HOST:PORT    SMTP (an MX for the inbound domain, or a relay's forwarding)
//	lmtp://HOST:PORT    LMTP over TCP (a local MTA such as Postfix hands mail over)
//	lmtp:///PATH        LMTP on a Unix socket
//	HOST:PORT           SMTP
//
// e.g. "smtp://0.0.0.0:25,lmtp://127.0.0.1:2424".
func ParseListen(s string) ([]Endpoint, error) {
	var out []Endpoint
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		if !strings.Contains(f, "://") {
			if _, _, err := net.SplitHostPort(f); err != nil {
				return nil, fmt.Errorf("KIZUNA_INBOUND_LISTEN: %q is not HOST:PORT, smtp://HOST:PORT, lmtp://HOST:PORT or lmtp:///SOCKET", f)
			}
			out = append(out, Endpoint{Network: "tcp", Address: f})
			continue
		}
		u, err := url.Parse(f)
		if err != nil {
			return nil, fmt.Errorf("KIZUNA_INBOUND_LISTEN: %q is not a URL", f)
		}
		e := Endpoint{Network: "tcp", Address: u.Host}
		switch strings.ToLower(u.Scheme) {
		case "smtp":
		case "lmtp":
			e.LMTP = true
		default:
			return nil, fmt.Errorf("KIZUNA_INBOUND_LISTEN: %q: the scheme is smtp or lmtp", f)
		}
		if u.Host == "" {
			if !e.LMTP || u.Path == "" {
				return nil, fmt.Errorf("KIZUNA_INBOUND_LISTEN: %q has no HOST:PORT (a Unix socket is lmtp:///PATH)", f)
			}
			e.Network, e.Address = "unix", u.Path
		} else if _, _, err := net.SplitHostPort(u.Host); err != nil {
			return nil, fmt.Errorf("KIZUNA_INBOUND_LISTEN: %q has no port", f)
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil, errors.New("KIZUNA_INBOUND_LISTEN is empty")
	}
	return out, nil
}

// Listener limits (RFC 5321 §4.5.3).
const (
	// MaxRecipients is how many RCPT TO one message may have (452 beyond).
	MaxRecipients = 50
	// DefaultMaxConnections is how many connections are served at once;
	// one more is answered 421 and closed.
	DefaultMaxConnections = 100
	// DefaultReadTimeout is how long the listener waits for a client's
	// next command or data (RFC 5321 §4.5.3.2.7: at least 5 minutes).
	DefaultReadTimeout = 5 * time.Minute
	// DefaultWriteTimeout is how long a reply may take to be written.
	DefaultWriteTimeout = time.Minute
)

// ListenerOptions configure a Listener.
type ListenerOptions struct {
	Endpoints []Endpoint
	// Domain is the only recipient domain accepted at RCPT TO: the domain
	// of KIZUNA_INBOUND_ADDRESS. Any other is refused 550 5.1.1, so the
	// listener is not an open relay.
	Domain string
	// MaxConnections limits concurrent connections (0:
	// DefaultMaxConnections); ReadTimeout and WriteTimeout (0: the
	// defaults) end idle or stuck clients.
	MaxConnections            int
	ReadTimeout, WriteTimeout time.Duration
	// TLS, when set, makes every TCP endpoint (SMTP, and LMTP over TCP)
	// offer STARTTLS (RFC 3207) with this configuration, usually
	// CertFiles.TLSConfig. A Unix socket never offers it. nil: no STARTTLS.
	TLS *tls.Config
	Log *slog.Logger
}

// Listener is the SMTP and LMTP intake. Each message is stored (Store)
// before the reply to its DATA, so a message answered 250 is never lost;
// processing happens after, in the Processor's Run.
type Listener struct {
	p       *Processor
	o       ListenerOptions
	domain  string
	sem     chan struct{}
	log     *slog.Logger
	servers []*smtp.Server
	lns     []net.Listener
	baseCtx context.Context
}

// NewListener builds a listener storing into p. It needs at least one
// endpoint and the accepted domain.
func (p *Processor) NewListener(o ListenerOptions) (*Listener, error) {
	if len(o.Endpoints) == 0 {
		return nil, errors.New("inbound listener: no endpoint")
	}
	domain := normDomain(o.Domain)
	if domain == "" {
		return nil, errors.New("inbound listener: no accepted domain (the domain of KIZUNA_INBOUND_ADDRESS)")
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = DefaultReadTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	l := &Listener{p: p, o: o, domain: domain, sem: make(chan struct{}, o.MaxConnections), log: o.Log, baseCtx: context.Background()}
	if l.log == nil {
		l.log = p.log
	}
	return l, nil
}

// Listen opens every endpoint (Run does it when it was not done): a port
// that is taken fails here.
func (l *Listener) Listen() error {
	if l.lns != nil {
		return nil
	}
	for _, e := range l.o.Endpoints {
		if e.Network == "unix" {
			os.Remove(e.Address) // a socket left by a previous run
		}
		ln, err := net.Listen(e.Network, e.Address)
		if err != nil {
			for _, o := range l.lns {
				o.Close()
			}
			l.lns = nil
			return fmt.Errorf("inbound listener %s: %w", e, err)
		}
		l.lns = append(l.lns, &limitListener{Listener: ln, sem: l.sem, log: l.log})
	}
	return nil
}

// Addrs are the addresses listened on, in the order of the endpoints
// (after Listen).
func (l *Listener) Addrs() []net.Addr {
	out := make([]net.Addr, len(l.lns))
	for i, ln := range l.lns {
		out[i] = ln.Addr()
	}
	return out
}

// Run serves every endpoint until ctx ends, then stops accepting and lets
// the sessions in progress finish (at most 10 s; a message whose DATA is
// being stored is stored and answered). It returns nil after a shutdown,
// or the error of a listener that failed.
func (l *Listener) Run(ctx context.Context) error {
	if err := l.Listen(); err != nil {
		return err
	}
	// A store in progress finishes even while shutting down.
	l.baseCtx = context.WithoutCancel(ctx)
	errs := make(chan error, len(l.lns))
	for i, ln := range l.lns {
		e := l.o.Endpoints[i]
		s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
			src := SourceSMTP
			if e.LMTP {
				src = SourceLMTP
			}
			return &session{l: l, source: src, remote: c.Conn().RemoteAddr().String(), conn: underLimit(c.Conn())}, nil
		}))
		s.LMTP = e.LMTP
		s.Domain = l.domain
		s.MaxRecipients = MaxRecipients
		s.MaxMessageBytes = l.p.maxBytes
		s.ReadTimeout = l.o.ReadTimeout
		s.WriteTimeout = l.o.WriteTimeout
		s.ErrorLog = smtpLog{l.log}
		if e.Network == "tcp" {
			s.TLSConfig = l.o.TLS
		}
		l.servers = append(l.servers, s)
		l.log.Info("inbound listener ready", "endpoint", e.String(), "addr", ln.Addr().String(), "domain", l.domain,
			"starttls", s.TLSConfig != nil)
		go func() { errs <- s.Serve(ln) }()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errs:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range l.servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s.Shutdown(sctx) != nil {
				s.Close()
			}
		}()
	}
	wg.Wait()
	if errors.Is(err, smtp.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("inbound listener: %w", err)
	}
	return nil
}

// normDomain lower-cases a domain (or the domain of an address) and drops
// a trailing dot.
func normDomain(s string) string {
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
}

// session is one SMTP/LMTP conversation.
type session struct {
	l      *Listener
	source Source
	remote string
	conn   *limitConn // the connection, to tell a BDAT chunk cut short by its end
	from   string
	to     []string
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from, s.to = from, nil
	return nil
}

// Rcpt accepts only addresses in the inbound domain (not an open relay).
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	at := strings.LastIndexByte(to, '@')
	if at <= 0 || normDomain(to[at+1:]) != s.l.domain {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1},
			Message: "No such user here: this server accepts mail for " + s.l.domain + " only"}
	}
	s.to = append(s.to, to)
	return nil
}

// Data stores the message before answering: 250 only once it is durable,
// and only for a message received whole. go-smtp ends a DATA transfer cut
// short with io.ErrUnexpectedEOF, but a BDAT chunk (RFC 3030) cut short by
// the connection's end reads as a normal end of the message: whole reads
// that, when the connection saw its end, as io.ErrUnexpectedEOF, so nothing
// is stored (no reply can reach the client anyway; it sends again). A
// message without a header (empty, or only a blank line) is refused 554
// 5.6.0 (RFC 5321 §4.2.3, RFC 3463 §3.7: a permanent content error), never
// 451: it would fail the same way each time.
func (s *session) Data(r io.Reader) error {
	ctx, cancel := context.WithTimeout(s.l.baseCtx, time.Minute)
	defer cancel()
	id, dup, err := s.l.p.StoreReader(ctx, s.source, s.from, s.to, whole{r: r, conn: s.conn})
	switch {
	case errors.Is(err, smtp.ErrDataTooLarge):
		return smtp.ErrDataTooLarge
	case errors.Is(err, ErrNoHeader):
		s.l.log.Info("inbound: a message without a header refused (554)", "source", s.source, "remote", s.remote)
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "A message needs a header (RFC 5322): nothing stored"}
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, smtp.ErrDataReset):
		s.l.log.Info("inbound: the message transfer ended before the message did; nothing stored", "source", s.source, "remote", s.remote, "err", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "The message was not received whole: nothing stored"}
	case err != nil:
		s.l.log.Warn("inbound: a message could not be stored; answered 451 (the sender retries)", "source", s.source, "remote", s.remote, "err", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary local problem storing the message, try again later"}
	}
	s.l.log.Debug("inbound message stored", "inbound_id", id, "duplicate", dup, "source", s.source, "remote", s.remote)
	s.l.p.Wake()
	return nil
}

// whole reads a message's data and turns its end into io.ErrUnexpectedEOF
// when the connection had already ended: go-smtp copies a BDAT chunk with
// an io.LimitReader, which takes the connection's end for the chunk's, and
// then closes the message as if it were complete. A chunk read whole never
// reads the connection's end (the limit stops first), so a message whose
// data ends after the connection did was cut short.
type whole struct {
	r    io.Reader
	conn *limitConn
}

func (w whole) Read(b []byte) (int, error) {
	n, err := w.r.Read(b)
	if err == io.EOF && w.conn != nil && w.conn.ended.Load() {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// limitListener serves at most cap(sem) connections at once: one more is
// answered 421 (RFC 5321 §3.8) and closed.
type limitListener struct {
	net.Listener
	sem chan struct{}
	log *slog.Logger
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.sem <- struct{}{}:
			return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
		default:
			go func() {
				c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				io.WriteString(c, "421 4.7.0 Too many connections, try again later\r\n")
				c.Close()
			}()
		}
	}
}

// underLimit finds the limitConn under c, also after STARTTLS, when go-smtp
// serves the session over a *tls.Conn wrapping it.
func underLimit(c net.Conn) *limitConn {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	lc, _ := c.(*limitConn)
	return lc
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
	ended   atomic.Bool // a read returned an error: the connection's end (EOF), a reset or a timeout
}

// Read reads from the connection and remembers when it has ended.
func (c *limitConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil {
		c.ended.Store(true)
	}
	return n, err
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// smtpLog sends go-smtp's own messages to the logger.
type smtpLog struct{ log *slog.Logger }

func (l smtpLog) Printf(format string, v ...any) { l.log.Debug("smtp: " + fmt.Sprintf(format, v...)) }
func (l smtpLog) Println(v ...any)               { l.log.Debug("smtp: " + fmt.Sprintln(v...)) }
