package mailer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wneessen/go-mail/smtp"
)

// smtpSender keeps one SMTP session open across messages. It uses go-mail's
// low-level client (MAIL/RCPT/DATA) because messages arrive pre-rendered,
// and sends no NOOP before and no RSET after a successful transaction:
// RFC 5321 §4.1.1.4 resets the state after the final reply to DATA, so the
// next MAIL may follow at once. RSET is sent only after a failed
// transaction, to leave the session clean.
type smtpSender struct {
	relay     Relay
	tlsConfig *tls.Config
	opts      options

	c    *smtp.Client
	conn net.Conn // the TCP connection under c, for deadlines
	sent int      // transactions started on c
	// pipelining: the relay offers PIPELINING, so MAIL, RCPT and DATA go
	// out in one write.
	pipelining bool
	// chunking: the relay offers CHUNKING as well, so MAIL, RCPT, "BDAT n
	// LAST" and the message itself go out in one write (RFC 3030).
	chunking bool
	// eightBitMIME and smtpUTF8: the relay offers 8BITMIME (RFC 6152) and
	// SMTPUTF8 (RFC 6531), read once per session.
	eightBitMIME, smtpUTF8 bool

	// tx is the buffer a chunked transaction is assembled in, kept for
	// the next one when it holds at most maxKeptTx bytes.
	tx []byte

	lastUsed time.Time
	reply    string
	// learnedMax is how many messages the relay takes per session, learnt
	// from a 421 that closed one (0: no limit seen).
	learnedMax int
	helo       string // the EHLO name, chosen at the first dial
}

// pastDeadline aborts any blocked read or write at once.
var pastDeadline = time.Unix(1, 0)

func (s *smtpSender) LastReply() string { return s.reply }

func (s *smtpSender) Send(ctx context.Context, env Envelope) error {
	s.reply = ""
	if err := checkEnvelope(env); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return &SendError{Stage: StageConnect, Outcome: Temporary, Err: err}
	}
	if s.c != nil && s.opts.now().Sub(s.lastUsed) > s.opts.idleLimit {
		s.quit()
	}
	for attempt := 0; ; attempt++ {
		reused := s.c != nil
		if s.c == nil {
			if err := s.dial(ctx, env); err != nil {
				return err
			}
		}
		if env.EightBit && !s.eightBitMIME {
			return &SendError{Stage: StageMail, Outcome: Temporary, Err: ErrNo8BitMIME}
		}
		err := s.transaction(ctx, env)
		s.lastUsed = s.opts.now()
		if err == nil {
			if s.sent >= s.maxPerConn() {
				s.quit()
			}
			return nil
		}
		if !isConnError(err) {
			s.reset(ctx)
			return err
		}
		started := s.sent
		s.drop()
		if attempt >= maxReconnects || ctx.Err() != nil {
			return err
		}
		switch {
		case err.Code == 421 && err.Stage != StageConnect:
			// The relay closed the session before taking the message
			// ("421 4.7.0 Too many messages in this connection", an idle
			// or per-session limit): RFC 5321 §3.8 says nothing of this
			// transaction was accepted, so it is sent again on a fresh
			// connection. A relay that ends every session after k
			// messages is sent at most k per connection from now on.
			if started > 1 {
				s.learnedMax = started - 1
			}
			continue
		case reused && attempt == 0 && err.Code == 0 && (err.Stage == StageMail || err.Stage == StageRcpt):
			// A kept connection the relay has dropped in the meantime
			// fails before DATA; nothing was delivered.
			continue
		}
		return err
	}
}

// maxReconnects bounds the fresh connections one Send opens after the relay
// closed a session before taking the message.
const maxReconnects = 2

// maxPerConn is the number of messages sent over one connection before it
// is closed: the relay URL's max_per_conn, or fewer when the relay was seen
// to close sessions after fewer messages.
func (s *smtpSender) maxPerConn() int {
	if s.learnedMax > 0 && s.learnedMax < s.relay.MaxPerConn {
		return s.learnedMax
	}
	return s.relay.MaxPerConn
}

// guard bounds the coming exchange by the relay timeout and ctx's deadline
// and aborts it when ctx is cancelled. Call the returned stop when done.
func (s *smtpSender) guard(ctx context.Context, conn net.Conn) (stop func() bool) {
	d := time.Now().Add(s.relay.Timeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		d = cd
	}
	_ = conn.SetDeadline(d)
	return context.AfterFunc(ctx, func() { _ = conn.SetDeadline(pastDeadline) })
}

// ctxErr is ctx.Err, also once ctx's deadline has passed but its timer
// has not fired yet (the connection deadline equals it and may win).
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// transaction runs MAIL, RCPT and DATA for one message.
func (s *smtpSender) transaction(ctx context.Context, env Envelope) *SendError {
	stop := s.guard(ctx, s.conn)
	defer stop()
	wrap := func(stage Stage, err error) *SendError {
		if cerr := ctxErr(ctx); cerr != nil {
			return &SendError{Stage: stage, Outcome: Temporary, Err: fmt.Errorf("%w (%v)", cerr, err)}
		}
		return sendError(stage, err)
	}
	s.sent++
	clean := env.CRLF && len(env.Data) > 0 || cleanCRLF(env.Data)
	if s.chunking && clean {
		if err := s.chunkedTransaction(env); err != nil {
			return wrap(err.stage, err.err)
		}
		return nil
	}
	if s.pipelining {
		if err := s.pipelinedEnvelope(env); err != nil {
			return wrap(err.stage, err.err)
		}
	} else {
		if err := s.c.Mail(smtpPath(env.From)); err != nil {
			return wrap(StageMail, err)
		}
		if err := s.c.Rcpt(smtpPath(env.To)); err != nil {
			return wrap(StageRcpt, err)
		}
		if _, _, err := s.cmd(354, "DATA"); err != nil {
			return wrap(StageData, err)
		}
	}
	// The message body, dot-stuffed, and the final reply (RFC 5321 §4.5.2).
	if err := writeDotted(s.c.Text.W, env.Data, clean); err != nil {
		return wrap(StageData, err)
	}
	_, msg, err := s.c.Text.ReadResponse(250)
	if err != nil {
		return wrap(StageData, err)
	}
	s.reply = "250 " + strings.ReplaceAll(msg, "\n", " ")
	return nil
}

// writeDotted writes a message body in DATA form: lines starting with "."
// get a second one, and ".\r\n" ends it (RFC 5321 §4.5.2). Messages with
// clean CRLF line ends (clean: what the renderer produces, cleanCRLF) are
// copied in large pieces; anything else goes through textproto's
// byte-by-byte DotWriter, which also turns bare LF into CRLF.
func writeDotted(w *bufio.Writer, data []byte, clean bool) error {
	if !clean {
		dw := textproto.NewWriter(w).DotWriter()
		if _, err := dw.Write(data); err != nil {
			return err
		}
		return dw.Close()
	}
	if data[0] == '.' {
		w.WriteByte('.')
	}
	for rest := data; ; {
		i := bytes.Index(rest, []byte("\r\n."))
		if i < 0 {
			w.Write(rest)
			break
		}
		w.Write(rest[:i+3])
		w.WriteByte('.')
		rest = rest[i+3:]
	}
	if !bytes.HasSuffix(data, []byte("\r\n")) {
		w.WriteString("\r\n")
	}
	w.WriteString(".\r\n")
	return w.Flush()
}

// cleanCRLF reports whether data is non-empty and every CR and LF in it
// belongs to a CRLF pair: as many CRs and LFs as CRLF pairs (pairs cannot
// overlap, so each CR is then followed by an LF and each LF preceded by a
// CR). Three vectorised counts instead of a byte loop: this runs once per
// message on the send path.
func cleanCRLF(data []byte) bool {
	if len(data) == 0 {
		return false
	}
	pairs := bytes.Count(data, []byte("\r\n"))
	return bytes.Count(data, []byte{'\r'}) == pairs && bytes.Count(data, []byte{'\n'}) == pairs
}

// stageErr is an error and the stage it belongs to.
type stageErr struct {
	stage Stage
	err   error
}

// cmd sends one command and reads its reply.
func (s *smtpSender) cmd(expect int, line string) (int, string, error) {
	id, err := s.c.Text.Cmd("%s", line)
	if err != nil {
		return 0, "", err
	}
	s.c.Text.StartResponse(id)
	defer s.c.Text.EndResponse(id)
	return s.c.Text.ReadResponse(expect)
}

// pipelinedEnvelope sends MAIL, RCPT and DATA in one write and then reads
// the three replies (RFC 2920 PIPELINING): one round trip instead of three
// per message. The first failing reply names the stage; later replies to a
// failed MAIL or RCPT are the server's consequential 503/554 and are read
// only to keep the session in step.
func (s *smtpSender) pipelinedEnvelope(env Envelope) *stageErr {
	w := s.c.Text.W
	w.WriteString("MAIL FROM:" + smtpPath(env.From) + s.mailParams(env) + "\r\n")
	w.WriteString("RCPT TO:" + smtpPath(env.To) + "\r\n")
	w.WriteString("DATA\r\n")
	if err := w.Flush(); err != nil {
		return &stageErr{StageMail, err}
	}
	var first *stageErr
	for i, st := range []struct {
		stage  Stage
		expect int
	}{{StageMail, 250}, {StageRcpt, 25}, {StageData, 354}} {
		_, _, err := s.c.Text.ReadResponse(st.expect)
		if err == nil {
			if i == 2 && first != nil {
				// DATA was accepted after a refused MAIL or RCPT (a
				// server that should not have): end it empty.
				_, _ = w.WriteString(".\r\n")
				_ = w.Flush()
				_, _, _ = s.c.Text.ReadResponse(250)
			}
			continue
		}
		if first == nil {
			first = &stageErr{st.stage, err}
		}
		var te *textproto.Error
		if !errors.As(err, &te) {
			return first // no reply at all: the connection is gone
		}
	}
	return first
}

// maxKeptTx is the largest transaction buffer a session keeps between
// messages (bytes): newsletters weigh 6–13 KB.
const maxKeptTx = 64 << 10

// chunkedTransaction sends one message in a single write: MAIL, RCPT and
// "BDAT n LAST" followed by the n bytes of the message, as is (RFC 3030
// §2: no dot-stuffing, no end marker; BDAT may be pipelined, §4.2), and
// then reads the three replies. It saves both ends the scan of every
// line that DATA needs and the round trip for the 354. The relay must
// offer both PIPELINING and CHUNKING, and the message must have clean
// CRLF line ends (a BDAT chunk is taken byte for byte). The first failing
// reply names the stage; after a refused MAIL or RCPT the relay still
// reads the chunk and refuses it (RFC 3030 §4.2), which keeps the session
// in step.
func (s *smtpSender) chunkedTransaction(env Envelope) *stageErr {
	size := len(env.Data)
	crlf := !bytes.HasSuffix(env.Data, []byte("\r\n"))
	if crlf {
		size += 2 // a message ends with a line break
	}
	// The whole transaction is assembled first and handed to the session's
	// writer at once: a bufio.Writer given more than its 4 KiB in one call,
	// while empty, passes it to the connection in one write; commands
	// buffered ahead of the message would split it into two.
	b := append(s.tx[:0], "MAIL FROM:"...)
	b = append(b, smtpPath(env.From)...)
	b = append(b, s.mailParams(env)...)
	b = append(b, "\r\nRCPT TO:"...)
	b = append(b, smtpPath(env.To)...)
	b = append(b, "\r\nBDAT "...)
	b = strconv.AppendInt(b, int64(size), 10)
	b = append(b, " LAST\r\n"...)
	b = append(b, env.Data...)
	if crlf {
		b = append(b, "\r\n"...)
	}
	if cap(b) <= maxKeptTx {
		s.tx = b
	} else {
		s.tx = nil // an unusually large message: do not hold its memory
	}
	w := s.c.Text.W
	if err := w.Flush(); err != nil {
		return &stageErr{StageMail, err}
	}
	w.Write(b)
	if err := w.Flush(); err != nil {
		return &stageErr{StageMail, err}
	}
	var first *stageErr
	for _, st := range []struct {
		stage  Stage
		expect int
	}{{StageMail, 250}, {StageRcpt, 25}, {StageData, 250}} {
		_, msg, err := s.c.Text.ReadResponse(st.expect)
		if err == nil {
			if st.stage == StageData && first == nil {
				s.reply = "250 " + strings.ReplaceAll(msg, "\n", " ")
			}
			continue
		}
		if first == nil {
			first = &stageErr{st.stage, err}
		}
		var te *textproto.Error
		if !errors.As(err, &te) {
			return first // no reply at all: the connection is gone
		}
	}
	return first
}

// mailParams are the MAIL FROM parameters the relay supports and the message
// needs: BODY=8BITMIME (RFC 6152) so 8-bit bodies pass unchanged, SMTPUTF8
// (RFC 6531) for non-ASCII addresses.
func (s *smtpSender) mailParams(env Envelope) string {
	switch utf8 := s.smtpUTF8 && !(isASCII(env.From) && isASCII(env.To)); {
	case s.eightBitMIME && utf8:
		return " BODY=8BITMIME SMTPUTF8"
	case s.eightBitMIME:
		return " BODY=8BITMIME"
	case utf8:
		return " SMTPUTF8"
	}
	return ""
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// dial opens, greets, secures and authenticates a new session; env is the
// message about to be sent (its sender's domain may name us in EHLO).
func (s *smtpSender) dial(ctx context.Context, env Envelope) *SendError {
	d := net.Dialer{Timeout: s.relay.Timeout}
	conn, err := d.DialContext(ctx, "tcp", s.relay.Addr())
	if err != nil {
		out := RelayUnavailable
		if ctxErr(ctx) != nil {
			out = Temporary
		}
		return &SendError{Stage: StageConnect, Outcome: out, Err: fmt.Errorf("dial %s: %w", s.relay.Addr(), err)}
	}
	stop := s.guard(ctx, conn)
	defer stop()
	fail := func(se *SendError) *SendError {
		conn.Close()
		if cerr := ctxErr(ctx); cerr != nil {
			se.Outcome, se.Err = Temporary, fmt.Errorf("%w (%v)", cerr, se.Err)
		}
		return se
	}
	var nc net.Conn = conn
	if s.relay.TLS == TLSImplicit {
		tc := tls.Client(conn, s.tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail(tlsError(StageConnect, s.relay.Addr(), err))
		}
		nc = tc
	}
	c, err := smtp.NewClient(nc, s.relay.Host)
	if err != nil {
		return fail(sendError(StageConnect, fmt.Errorf("greeting from %s: %w", s.relay.Addr(), err)))
	}
	if s.helo == "" {
		s.helo = heloName(s.relay.HELO, s.opts.hostname, env.From, conn.LocalAddr())
	}
	if err := c.Hello(s.helo); err != nil {
		return fail(sendError(StageConnect, fmt.Errorf("EHLO to %s: %w", s.relay.Addr(), err)))
	}
	if s.relay.TLS == TLSStartTLS || s.relay.TLS == TLSOpportunistic {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(s.tlsConfig); err != nil {
				return fail(tlsError(StageStartTLS, s.relay.Addr(), err))
			}
		} else if s.relay.TLS == TLSStartTLS {
			return fail(&SendError{Stage: StageStartTLS, Outcome: SenderRejected,
				Err: fmt.Errorf("relay %s does not offer STARTTLS; refusing to send in plain text "+
					"(add ?tls=opportunistic or ?tls=none to the relay URL only for a trusted relay)", s.relay.Addr())})
		}
	}
	if s.relay.Username != "" {
		if err := s.auth(c); err != nil {
			return fail(err)
		}
	}
	s.pipelining, _ = c.Extension("PIPELINING")
	s.pipelining = s.pipelining && !s.opts.noPipelining
	s.eightBitMIME, _ = c.Extension("8BITMIME")
	s.smtpUTF8, _ = c.Extension("SMTPUTF8")
	s.chunking, _ = c.Extension("CHUNKING")
	s.chunking = s.chunking && s.pipelining && !s.opts.noChunking
	s.c, s.conn, s.sent, s.lastUsed = c, conn, 0, s.opts.now()
	return nil
}

// auth logs in with PLAIN or LOGIN, whichever the relay offers. Credentials
// travel only over TLS or to a loopback relay (go-mail refuses otherwise).
func (s *smtpSender) auth(c *smtp.Client) *SendError {
	ok, params := c.Extension("AUTH")
	if !ok {
		return &SendError{Stage: StageAuth, Outcome: SenderRejected,
			Err: fmt.Errorf("relay %s does not offer AUTH but the relay URL has a user name", s.relay.Addr())}
	}
	mechs := strings.Fields(strings.ToUpper(params))
	var a smtp.Auth
	switch {
	case slices.Contains(mechs, "PLAIN"):
		a = smtp.PlainAuth("", s.relay.Username, s.relay.Password, s.relay.Host, false)
	case slices.Contains(mechs, "LOGIN"):
		a = smtp.LoginAuth(s.relay.Username, s.relay.Password, s.relay.Host, false)
	default:
		return &SendError{Stage: StageAuth, Outcome: SenderRejected,
			Err: fmt.Errorf("relay %s offers AUTH %s; Kizuna speaks PLAIN and LOGIN", s.relay.Addr(), params)}
	}
	if err := c.Auth(a); err != nil {
		se := sendError(StageAuth, err)
		if se.Code == 0 {
			// Refused before anything was sent (no TLS on a remote relay,
			// host mismatch): a configuration problem, not the network.
			if errors.Is(err, smtp.ErrUnencrypted) || errors.Is(err, smtp.ErrWrongHostname) {
				se.Outcome = SenderRejected
			}
			se.Err = fmt.Errorf("login to %s as %s: %w", s.relay.Addr(), s.relay.Username, err)
		}
		return se
	}
	return nil
}

// tlsError classifies a TLS set-up failure: a certificate the system does
// not trust, a name mismatch or a protocol mismatch is a configuration
// problem (pause and alert, saying what to fix), a broken network means the
// relay is unavailable for now.
func tlsError(stage Stage, addr string, err error) *SendError {
	var (
		cve *tls.CertificateVerificationError
		ua  x509.UnknownAuthorityError
		he  x509.HostnameError
		ci  x509.CertificateInvalidError
		rh  tls.RecordHeaderError
		ae  tls.AlertError
	)
	switch {
	case errors.As(err, &cve) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci):
		return &SendError{Stage: stage, Outcome: SenderRejected, Err: &CertificateError{Addr: addr, Err: err}}
	case errors.As(err, &rh) || errors.As(err, &ae):
		return &SendError{Stage: stage, Outcome: SenderRejected, Err: fmt.Errorf("TLS with %s: %w", addr, err)}
	}
	se := sendError(stage, err)
	if se.Code == 0 {
		se.Err = fmt.Errorf("TLS with %s: %w", addr, err)
	}
	return se
}

// CertificateError is a relay certificate that this machine does not
// trust or that names another host.
type CertificateError struct {
	Addr string // the relay's host:port
	Err  error  // the crypto/x509 or crypto/tls verification error
}

// Error says what is wrong and how to fix it.
func (e *CertificateError) Error() string {
	var he x509.HostnameError
	if errors.As(e.Err, &he) {
		return fmt.Sprintf("the TLS certificate of the relay %s is for another host name (%v); "+
			"use the host name the certificate names in KIZUNA_SMTP_URL", e.Addr, e.Err)
	}
	return fmt.Sprintf("the TLS certificate of the relay %s is not trusted (%v); "+
		"if the relay uses a private certificate authority, set SSL_CERT_FILE to its PEM file "+
		"(or SSL_CERT_DIR to a directory of them)", e.Addr, e.Err)
}

// Unwrap returns the verification error.
func (e *CertificateError) Unwrap() error { return e.Err }

// reset sends RSET after a failed transaction so the session can carry the
// next message; a session that cannot be reset is dropped.
func (s *smtpSender) reset(ctx context.Context) {
	if s.c == nil {
		return
	}
	stop := s.guard(context.WithoutCancel(ctx), s.conn)
	defer stop()
	if err := s.c.Reset(); err != nil {
		s.drop()
	}
}

// quit ends the session with QUIT, bounded by a short deadline.
func (s *smtpSender) quit() {
	if s.c == nil {
		return
	}
	_ = s.conn.SetDeadline(time.Now().Add(min(s.relay.Timeout, 5*time.Second)))
	_ = s.c.Quit()
	s.drop()
}

// drop closes the connection without a goodbye (it is already broken).
func (s *smtpSender) drop() {
	if s.c == nil {
		return
	}
	_ = s.c.Close()
	_ = s.conn.Close()
	s.c, s.conn, s.sent = nil, nil, 0
}

func (s *smtpSender) Close() error {
	s.quit()
	return nil
}

// Probe reports whether relay offers 8BITMIME (RFC 6152): it dials, greets
// (EHLO, and STARTTLS as the relay URL asks, since a relay may offer
// different extensions once secured), reads the extensions and ends the
// session with QUIT. A file:// relay keeps any message as it is: true.
// The answer may change when the relay changes; a Send of an EightBit
// envelope checks it again on every session (ErrNo8BitMIME).
func Probe(ctx context.Context, relay Relay, opts ...Option) (bool, error) {
	snd := NewSender(relay, opts...)
	s, ok := snd.(*smtpSender)
	if !ok {
		return true, nil
	}
	if err := s.dial(ctx, Envelope{}); err != nil {
		return false, err
	}
	defer s.quit()
	eight, _ := s.c.Extension("8BITMIME")
	return eight, nil
}
