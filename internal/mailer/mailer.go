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
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"time"
)

// Envelope is one message to send: the SMTP envelope addresses and the
// complete RFC 5322 message (headers, blank line, body), CRLF line endings
// preferred.
type Envelope struct {
	From string // reverse-path (bounce address); "" sends the null sender <>
	To   string // the single recipient
	Data []byte
}

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
	o := options{idleLimit: time.Minute, now: time.Now}
	for _, f := range opts {
		f(&o)
	}
	if relay.MaxPerConn <= 0 {
		relay.MaxPerConn = DefaultMaxPerConn
	}
	if relay.Timeout <= 0 {
		relay.Timeout = DefaultTimeout
	}
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

// checkEnvelope refuses addresses that would break the SMTP command line
// (CR, LF, angle brackets, spaces): a data error of this one delivery.
func checkEnvelope(env Envelope) error {
	bad := func(what, v string) error {
		return &SendError{Stage: StageEnvelope, Outcome: Permanent,
			Err: fmt.Errorf("bad %s address %q", what, v)}
	}
	if strings.ContainsAny(env.From, "\r\n<> \t") {
		return bad("sender", env.From)
	}
	if env.To == "" || strings.ContainsAny(env.To, "\r\n<> \t") || !strings.Contains(env.To, "@") {
		return bad("recipient", env.To)
	}
	if len(env.Data) == 0 {
		return &SendError{Stage: StageEnvelope, Outcome: Permanent, Err: fmt.Errorf("empty message to %s", env.To)}
	}
	return nil
}
