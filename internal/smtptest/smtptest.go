// Package smtptest runs a real SMTP server (go-smtp) on loopback for tests.
// It records every accepted message and can be told to fail on purpose:
// a 4xx or 5xx reply at MAIL, RCPT or DATA, or a dropped connection.
package smtptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Stage names the SMTP command a Fault applies to.
type Stage string

// The stages a Fault can apply to.
const (
	StageMail Stage = "MAIL"
	StageRcpt Stage = "RCPT"
	StageData Stage = "DATA"
)

// Message is one message the server accepted.
type Message struct {
	From string
	To   []string
	Data []byte
	At   time.Time
}

// Fault decides what the server does with one transaction. Returning nil lets
// it through; ErrDrop closes the connection without a reply; any other error
// (ideally a *smtp.SMTPError from Reply) is sent as the reply.
type Fault func(stage Stage, from string, to []string) error

// ErrDrop makes the server close the connection abruptly.
var ErrDrop = errors.New("smtptest: drop connection")

// Reply builds an SMTP error reply such as Reply(451, "4.3.0", "try later").
func Reply(code int, enhanced string, msg string) *smtp.SMTPError {
	var ec smtp.EnhancedCode
	fmt.Sscanf(enhanced, "%d.%d.%d", &ec[0], &ec[1], &ec[2])
	if enhanced == "" {
		ec = smtp.NoEnhancedCode
	}
	return &smtp.SMTPError{Code: code, EnhancedCode: ec, Message: msg}
}

// Server is a running test SMTP server.
type Server struct {
	Addr string
	Host string
	Port int

	// Discard keeps only a count of accepted messages, not their bytes
	// (benchmarks).
	Discard bool

	mu          sync.Mutex
	messages    []Message
	accepted    int
	fault       Fault
	connections int
	authUser    string // RequireAuth: "" means no AUTH
	authPass    string
	perSession  int   // SetSessionLimit: 0 means no limit
	greeting    error // SetGreetingFault
	helos       []string
	no8bit      bool     // SetNo8BitMIME
	commands    []string // MAIL and RCPT lines as the client wrote them
	// dataCommands is "DATA" or "BDAT" for each message a client began
	// to transfer, in order.
	dataCommands []string
	tlsConfig    *tls.Config
	srv          *smtp.Server
	ln           net.Listener
	notify       chan struct{}
}

// Start runs a server on 127.0.0.1 with a free port, closed when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Listen runs a server on addr until Close (for benchmarks and demos).
func Listen(addr string) (*Server, error) {
	s := &Server{notify: make(chan struct{}, 1)}
	if err := s.listen(addr); err != nil {
		return nil, err
	}
	tcp := s.ln.Addr().(*net.TCPAddr)
	s.Addr, s.Host, s.Port = tcp.String(), tcp.IP.String(), tcp.Port
	return s, nil
}

// listen starts a fresh go-smtp server on addr.
func (s *Server) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = "smtptest.localhost"
	srv.AllowInsecureAuth = true
	srv.MaxMessageBytes = 50 << 20
	srv.MaxRecipients = 1000
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = quietLog{}
	s.mu.Lock()
	srv.TLSConfig = s.tlsConfig
	s.srv, s.ln = srv, ln
	s.mu.Unlock()
	go srv.Serve(recordingListener{ln, s})
	return nil
}

// recordingListener hands go-smtp connections that note the MAIL and RCPT
// command lines the client writes: go-smtp passes a session the path
// with its quotes removed, and tests need to see the bytes on the wire.
type recordingListener struct {
	net.Listener
	s *Server
}

func (l recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &recordingConn{Conn: c, s: l.s}, nil
}

// recordingConn scans what the client sends for lines that start with
// MAIL FROM: or RCPT TO: (a message body that has such a line is recorded
// too; tests do not send one).
type recordingConn struct {
	net.Conn
	s    *Server
	line []byte // the current line so far, up to maxRecordedLine octets
	long bool   // the current line is longer than that: not a command
}

// maxRecordedLine bounds a recorded command (RFC 5321 §4.5.3.1.4: 512
// octets, plus room for parameters).
const maxRecordedLine = 1024

// Write hides the 8BITMIME extension from the EHLO reply when the server
// was told to (SetNo8BitMIME). go-smtp writes a reply in one flush and
// never lists 8BITMIME last, so the line is "250-8BITMIME".
func (c *recordingConn) Write(p []byte) (int, error) {
	c.s.mu.Lock()
	hide := c.s.no8bit
	c.s.mu.Unlock()
	if hide {
		if q := bytes.Replace(p, []byte("250-8BITMIME\r\n"), nil, 1); len(q) != len(p) {
			if _, err := c.Conn.Write(q); err != nil {
				return 0, err
			}
			return len(p), nil
		}
	}
	return c.Conn.Write(p)
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.s.Discard {
		c.scan(p[:n])
	}
	return n, err
}

func (c *recordingConn) scan(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		chunk := b
		if i >= 0 {
			chunk = b[:i]
		}
		if !c.long {
			if len(c.line)+len(chunk) > maxRecordedLine {
				c.long, c.line = true, c.line[:0]
			} else {
				c.line = append(c.line, chunk...)
			}
		}
		if i < 0 {
			return
		}
		l := strings.TrimSuffix(string(c.line), "\r")
		if !c.long && (hasPrefixFold(l, "MAIL FROM:") || hasPrefixFold(l, "RCPT TO:")) {
			c.s.mu.Lock()
			c.s.commands = append(c.s.commands, l)
			c.s.mu.Unlock()
		}
		if !c.long && (strings.EqualFold(l, "DATA") || hasPrefixFold(l, "BDAT ")) {
			c.s.mu.Lock()
			c.s.dataCommands = append(c.s.dataCommands, strings.ToUpper(l[:4]))
			c.s.mu.Unlock()
		}
		c.line, c.long = c.line[:0], false
		b = b[i+1:]
	}
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// DataCommands returns, for each message clients began to transfer in a
// plaintext session, the command they used: "DATA" or "BDAT" (RFC 3030
// CHUNKING, which this server offers). Nothing is kept in Discard mode.
func (s *Server) DataCommands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.dataCommands...)
}

// Commands returns the MAIL FROM and RCPT TO command lines clients sent, as
// written on the wire without the CRLF (for example
// `RCPT TO:<"taro..yamada"@docomo.ne.jp>`), in the order received. Only
// plaintext sessions are seen (after STARTTLS the bytes are encrypted), and
// nothing is kept in Discard mode.
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.commands...)
}

// Stop closes the listener and every open session, as a relay that was
// shut down: connections to Addr are refused until Restart.
func (s *Server) Stop() error {
	s.mu.Lock()
	srv, ln := s.srv, s.ln
	s.mu.Unlock()
	// The listener is closed here too: Server.Close only knows listeners
	// its Serve goroutine has registered, which may not have run yet.
	ln.Close()
	err := srv.Close()
	if errors.Is(err, smtp.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// Restart listens on the same address again after Stop, keeping faults,
// limits and the messages received so far.
func (s *Server) Restart() error { return s.listen(s.Addr) }

// SetSessionLimit makes the server end each session after n messages, as
// relays with a per-connection cap do: the next MAIL gets "421 4.7.0 Too
// many messages in this connection". 0 removes the limit.
func (s *Server) SetSessionLimit(n int) {
	s.mu.Lock()
	s.perSession = n
	s.mu.Unlock()
}

// SetNo8BitMIME makes the server stop (or, with false, start again)
// offering 8BITMIME (RFC 6152) in its EHLO reply, from the next session
// on: a relay that may mangle 8-bit bodies.
func (s *Server) SetNo8BitMIME(hide bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.no8bit = hide
}

// SetGreetingFault makes every new session fail at EHLO with err (for
// example Reply(421, "4.3.2", "Service not available")); nil removes it.
func (s *Server) SetGreetingFault(err error) {
	s.mu.Lock()
	s.greeting = err
	s.mu.Unlock()
}

// Helos returns the names clients gave in EHLO/HELO, one per session.
func (s *Server) Helos() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.helos...)
}

// URL is the relay URL (KIZUNA_SMTP_URL) of this server.
func (s *Server) URL() string { return fmt.Sprintf("smtp://%s?tls=none", s.Addr) }

// SetFault installs f (nil removes it).
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	s.fault = f
	s.mu.Unlock()
}

// RequireAuth makes the server offer AUTH PLAIN, accept only this user name
// and password (535 5.7.8 otherwise), and refuse MAIL from a session that has
// not logged in (530 5.7.0). Without it the server offers no AUTH.
func (s *Server) RequireAuth(username, password string) {
	s.mu.Lock()
	s.authUser, s.authPass = username, password
	s.mu.Unlock()
}

func (s *Server) credentials() (user, pass string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authUser, s.authPass
}

// EnableStartTLS makes the server offer STARTTLS with a fresh self-signed
// certificate for 127.0.0.1 and localhost, and returns a pool that trusts
// it (for the client's tls.Config RootCAs). Call it before connecting.
func (s *Server) EnableStartTLS() (*x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "smtptest.localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	s.mu.Lock()
	s.tlsConfig = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	s.srv.TLSConfig = s.tlsConfig
	s.mu.Unlock()
	return pool, nil
}

// Messages returns a copy of the accepted messages.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Accepted counts accepted messages (also in Discard mode).
func (s *Server) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Connections counts the SMTP sessions opened so far.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connections
}

// WaitFor waits until at least n messages were accepted or timeout passes,
// and reports whether they were.
func (s *Server) WaitFor(n int, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		if s.Accepted() >= n {
			return true
		}
		select {
		case <-s.notify:
		case <-deadline:
			return s.Accepted() >= n
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Close stops the server.
func (s *Server) Close() error { return s.Stop() }

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.connections++
	s.helos = append(s.helos, c.Hostname())
	if s.greeting != nil {
		return nil, s.greeting
	}
	return &session{srv: s, conn: c}, nil
}

func (s *Server) check(c *smtp.Conn, stage Stage, from string, to []string) error {
	s.mu.Lock()
	f := s.fault
	s.mu.Unlock()
	if f == nil {
		return nil
	}
	err := f(stage, from, to)
	if errors.Is(err, ErrDrop) {
		c.Conn().Close()
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "connection dropped"}
	}
	return err
}

type session struct {
	srv    *Server
	conn   *smtp.Conn
	from   string
	to     []string
	authed bool
	count  int // messages accepted in this session
}

func (s *session) AuthMechanisms() []string {
	if user, _ := s.srv.credentials(); user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(_, username, password string) error {
		user, pass := s.srv.credentials()
		if user == "" || username != user || password != pass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "authentication credentials invalid"}
		}
		s.authed = true
		return nil
	}), nil
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if user, _ := s.srv.credentials(); user != "" && !s.authed {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "authentication required"}
	}
	s.srv.mu.Lock()
	limit := s.srv.perSession
	s.srv.mu.Unlock()
	if limit > 0 && s.count >= limit {
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Too many messages in this connection"}
	}
	if err := s.srv.check(s.conn, StageMail, from, nil); err != nil {
		return err
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := s.srv.check(s.conn, StageRcpt, s.from, []string{to}); err != nil {
		return err
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	var buf bytes.Buffer
	var w io.Writer = &buf
	if s.srv.Discard {
		w = io.Discard // a benchmark's sink: read, count, keep nothing
	}
	if _, err := io.Copy(w, r); err != nil {
		return err
	}
	if err := s.srv.check(s.conn, StageData, s.from, s.to); err != nil {
		return err
	}
	s.count++
	s.srv.mu.Lock()
	s.srv.accepted++
	if !s.srv.Discard {
		s.srv.messages = append(s.srv.messages, Message{From: s.from, To: append([]string(nil), s.to...), Data: buf.Bytes(), At: time.Now()})
	}
	s.srv.mu.Unlock()
	select {
	case s.srv.notify <- struct{}{}:
	default:
	}
	return nil
}

type quietLog struct{}

func (quietLog) Printf(string, ...interface{}) {}
func (quietLog) Println(...interface{})        {}

// Header returns the value of the first header named name in the raw
// message, unfolded, or "".
func (m Message) Header(name string) string {
	head, _, _ := strings.Cut(string(m.Data), "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	for i, l := range lines {
		k, v, ok := strings.Cut(l, ":")
		if !ok || !strings.EqualFold(k, name) {
			continue
		}
		for j := i + 1; j < len(lines) && (strings.HasPrefix(lines[j], " ") || strings.HasPrefix(lines[j], "\t")); j++ {
			v += lines[j]
		}
		return strings.TrimSpace(v)
	}
	return ""
}
