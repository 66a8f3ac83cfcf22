// Package mailer hands pre-rendered messages to the relay named by
// KIZUNA_SMTP_URL: an SMTP relay over a connection kept open across
// messages, or a directory of .eml files (file://). It also classifies
// every failure into what the delivery engine should do next (retry, fail
// the delivery, suppress the address, or pause the run) and computes retry
// delays.
//
// A Sender belongs to one goroutine: give each worker goroutine its own, so
// that connections are reused without locking and many run in parallel.
package mailer

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/kizuna-alumni/kizuna/internal/address"
)

// Envelope is one message to send: the SMTP envelope addresses and the
// complete RFC 5322 message (headers, blank line, body), CRLF line endings
// preferred.
type Envelope struct {
	From string // reverse-path (bounce address); "" sends the null sender <>
	To   string // the single recipient
	Data []byte
	// EightBit says Data has an 8bit body part (render.Message.EightBit):
	// it may go only to a relay that offers 8BITMIME, with BODY=8BITMIME
	// (RFC 6152 §3). An SMTP session without it refuses the envelope with
	// ErrNo8BitMIME.
	EightBit bool
	// CRLF says every line of Data is known to end in CRLF, as the
	// renderer writes them (render.Message): Send then skips checking
	// each message for bare CR or LF before sending it as it is.
	CRLF bool
}

// ErrNo8BitMIME is the error (wrapped in a *SendError whose Outcome is
// Temporary) of a Send of an EightBit envelope over a session whose relay
// does not offer 8BITMIME: sending it would break RFC 6152 §3 (a relay may
// mangle the 8-bit octets). Nothing was sent; the caller renders the
// message again without 8bit (render.Options.EightBitMIME false) and
// sends it then.
var ErrNo8BitMIME = errors.New("the relay does not offer 8BITMIME; the message has an 8bit body")

// Sender sends messages one at a time. It is not safe for concurrent use.
type Sender interface {
	// Send delivers env to the relay. A non-nil error is a *SendError whose
	// Outcome says what to do (see Classify). Send honours ctx: a cancelled
	// or expired ctx aborts the SMTP exchange (a Temporary outcome).
	//
	// A message counts as accepted only when Send returns nil. If ctx ends
	// or the connection drops after the final "." was written but before
	// the reply was read, the relay may still deliver it: this is the only
	// window in which a retry can duplicate a message.
	Send(ctx context.Context, env Envelope) error
	// LastReply is the relay's reply to the last accepted message, such as
	// "250 2.0.0 Ok: queued as 4F1C2", for recording with the delivery.
	LastReply() string
	// Close ends the session politely (QUIT) and releases the connection.
	// The Sender may be used again afterwards; it redials.
	Close() error
}

// Option adjusts a Sender.
type Option func(*options)

type options struct {
	tlsConfig *tls.Config
	idleLimit time.Duration
	now       func() time.Time
	// noPipelining sends MAIL, RCPT and DATA one at a time even when the
	// relay offers PIPELINING (tests of the plain path).
	noPipelining bool
	// noChunking sends the message with DATA even when the relay offers
	// CHUNKING (tests and benchmarks of the DATA path).
	noChunking bool
	// hostname names this machine for EHLO (os.Hostname; tests replace it).
	hostname func() (string, error)
}

// WithTLSConfig sets the TLS configuration for STARTTLS and smtps:// (for
// example a private CA). ServerName defaults to the relay host.
func WithTLSConfig(c *tls.Config) Option { return func(o *options) { o.tlsConfig = c } }

// WithIdleLimit sets how long a connection may sit unused before the next
// Send closes it and dials afresh instead of risking a write into a
// connection the relay has already timed out (default 1 minute).
func WithIdleLimit(d time.Duration) Option { return func(o *options) { o.idleLimit = d } }

// NewSender returns a Sender for relay: a file writer for file:// relays,
// an SMTP client otherwise. It does not connect until the first Send.
func NewSender(relay Relay, opts ...Option) Sender {
	o := options{idleLimit: time.Minute, now: time.Now, hostname: os.Hostname}
	for _, f := range opts {
		f(&o)
	}
	relay.MaxPerConn = cmp.Or(relay.MaxPerConn, DefaultMaxPerConn)
	relay.Timeout = cmp.Or(relay.Timeout, DefaultTimeout)
	if relay.Scheme == "file" {
		return &fileSender{dir: relay.Dir}
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.tlsConfig != nil {
		tc = o.tlsConfig.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = relay.Host
	}
	return &smtpSender{relay: relay, tlsConfig: tc, opts: o}
}

// checkEnvelope refuses addresses that cannot be written on an SMTP command
// line even quoted: control characters (CR, LF, NUL, …) anywhere, an empty
// local part, or a domain that is missing or holds spaces, angle brackets,
// quotes or other specials (RFC 5321 §4.1.2). Local parts that are not a
// dot-atom (legacy carrier addresses such as taro..yamada@docomo.ne.jp) are
// fine: they are sent quoted (address.Quote). A refusal is a data error of
// this one delivery.
func checkEnvelope(env Envelope) error {
	bad := func(what, v string) error {
		return &SendError{Stage: StageEnvelope, Outcome: Permanent,
			Err: fmt.Errorf("bad %s address %q", what, v)}
	}
	if env.From != "" && !writableAddress(env.From) {
		return bad("sender", env.From)
	}
	if !writableAddress(env.To) {
		return bad("recipient", env.To)
	}
	if len(env.Data) == 0 {
		return &SendError{Stage: StageEnvelope, Outcome: Permanent, Err: fmt.Errorf("empty message to %s", env.To)}
	}
	return nil
}

// writableAddress reports whether addr (local@domain, split at the last
// "@") can be written as an SMTP path once its local part is quoted.
func writableAddress(addr string) bool {
	for i := 0; i < len(addr); i++ {
		if c := addr[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 {
		return false
	}
	domain := addr[at+1:]
	return domain != "" && !strings.ContainsAny(domain, " <>\"\\(),;")
}

// smtpPath is addr as an SMTP path: in angle brackets, the local part quoted
// when it is not a dot-atom (RFC 5321 §4.1.2, address.Quote).
func smtpPath(addr string) string { return "<" + address.Quote(addr) + ">" }

// heloName is the name Kizuna gives in EHLO (RFC 5321 §4.1.1.1: the
// client's fully qualified domain name, or an address literal when it has
// none). Receivers write it into every Received: line and spam filters
// score a "localhost" or a bare host name, so the order is: the relay URL's
// helo=, this machine's host name when it is fully qualified, the domain of
// the envelope sender (the company's own domain), and last the address
// literal of the local end of the connection, e.g. "[192.0.2.7]".
func heloName(configured string, hostname func() (string, error), envelopeFrom string, local net.Addr) string {
	if configured != "" {
		return configured
	}
	if h, err := hostname(); err == nil && isFQDN(h) {
		return strings.TrimSuffix(strings.ToLower(h), ".")
	}
	if at := strings.LastIndexByte(envelopeFrom, '@'); at >= 0 && isFQDN(envelopeFrom[at+1:]) {
		return strings.ToLower(envelopeFrom[at+1:])
	}
	if ta, ok := local.(*net.TCPAddr); ok {
		if ta.IP.To4() != nil {
			return "[" + ta.IP.String() + "]"
		}
		return "[IPv6:" + ta.IP.String() + "]"
	}
	return "[127.0.0.1]"
}

// isFQDN reports whether name is a dotted host name that is not a local
// placeholder ("localhost", "*.localdomain", "*.local").
func isFQDN(name string) bool {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	if !strings.Contains(name, ".") || net.ParseIP(name) != nil {
		return false
	}
	for _, local := range []string{"localhost", ".localhost", ".localdomain", ".local", ".internal", ".lan"} {
		if name == strings.TrimPrefix(local, ".") || strings.HasSuffix(name, local) {
			return false
		}
	}
	for _, r := range name {
		if !(r == '.' || r == '-' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// Explain turns the error of a Send whose outcome stops a run
// (SenderRejected) or holds it (RelayUnavailable) into a sentence for the
// operator: what went wrong, in the relay's own words, without credentials.
// Other errors are returned as their text.
func Explain(err error) string {
	var se *SendError
	if !errors.As(err, &se) {
		if err == nil {
			return ""
		}
		return err.Error()
	}
	var ce *CertificateError
	switch {
	case errors.As(se, &ce):
		return ce.Error()
	case se.Outcome == RelayUnavailable && se.Code == 0:
		return "the relay does not answer: " + se.Error()
	case se.Outcome == RelayUnavailable:
		return "the relay defers all mail for now: " + se.Error()
	case se.Outcome != SenderRejected:
		return se.Error()
	case se.Stage == StageAuth:
		return "the relay refused the login: " + se.Error()
	case se.Stage == StageConnect || se.Stage == StageStartTLS:
		return "the relay refused the connection: " + se.Error()
	}
	return "the relay rejected the sender: " + se.Error()
}
