package mailer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// SendLoop sends the same pre-rendered message n times over conns parallel
// Senders (one kept connection each), to recipients alum<i>@<domain of
// env.To>, and returns how long it took. It is the ceiling the delivery
// benchmarks measure themselves against in the same run: nothing but the
// relay conversation, no database, no rendering, no limits.
func SendLoop(ctx context.Context, relay Relay, conns, n int, env Envelope, opts ...Option) (time.Duration, error) {
	if conns < 1 || n < 0 {
		return 0, fmt.Errorf("send loop: %d connections, %d messages", conns, n)
	}
	relay.MaxPerConn = n + 1 // one connection per goroutine for the whole loop
	domain := env.To[strings.LastIndexByte(env.To, '@')+1:]
	return fanOut(conns, func(g int) error {
		s := NewSender(relay, opts...)
		defer s.Close()
		e := env
		for i := g; i < n; i += conns {
			e.To = fmt.Sprintf("alum%d@%s", i, domain)
			if err := s.Send(ctx, e); err != nil {
				return fmt.Errorf("send loop message %d: %w", i, err)
			}
		}
		return nil
	})
}

// GoMailClientLoop is GUIDE.md's reference ceiling: the same pre-rendered
// message sent n times through go-mail's high-level Client, one Client
// (DialWithContext once, NOOP and RSET off) on each of conns connections, to
// recipients alum<i>@<domain of env.To>. The message is parsed into a
// go-mail Msg once per connection; each Send writes it out again, as a
// program using go-mail's Client does. Only plain relays (tls=none) are
// supported: it measures a loopback sink.
func GoMailClientLoop(ctx context.Context, relay Relay, conns, n int, env Envelope) (time.Duration, error) {
	if conns < 1 || n < 0 {
		return 0, fmt.Errorf("go-mail loop: %d connections, %d messages", conns, n)
	}
	if relay.Scheme != "smtp" || relay.TLS != TLSNone {
		return 0, errors.New("go-mail loop: only plain smtp:// relays with tls=none")
	}
	domain := env.To[strings.LastIndexByte(env.To, '@')+1:]
	return fanOut(conns, func(g int) error {
		m, err := gomail.EMLToMsgFromReader(bytes.NewReader(env.Data))
		if err != nil {
			return fmt.Errorf("go-mail loop: parse message: %w", err)
		}
		if err := m.EnvelopeFrom(env.From); err != nil {
			return fmt.Errorf("go-mail loop: %w", err)
		}
		c, err := gomail.NewClient(relay.Host, gomail.WithPort(relay.Port), gomail.WithTLSPolicy(gomail.NoTLS),
			gomail.WithoutNoop(), gomail.WithoutRset())
		if err != nil {
			return fmt.Errorf("go-mail loop: %w", err)
		}
		if err := c.DialWithContext(ctx); err != nil {
			return fmt.Errorf("go-mail loop: dial: %w", err)
		}
		defer c.Close()
		for i := g; i < n; i += conns {
			if err := m.To(fmt.Sprintf("alum%d@%s", i, domain)); err != nil {
				return fmt.Errorf("go-mail loop message %d: %w", i, err)
			}
			if err := c.Send(m); err != nil {
				return fmt.Errorf("go-mail loop message %d: %w", i, err)
			}
		}
		return nil
	})
}

// fanOut runs work(0) … work(conns-1) at once and returns how long they took
// together and the first error any returned.
func fanOut(conns int, work func(g int) error) (time.Duration, error) {
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for g := range conns {
		wg.Go(func() {
			if err := work(g); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	return elapsed, <-errs
}
