package mailer

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
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
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for g := range conns {
		wg.Go(func() {
			s := NewSender(relay, opts...)
			defer s.Close()
			e := env
			for i := g; i < n; i += conns {
				e.To = fmt.Sprintf("alum%d@%s", i, domain)
				if err := s.Send(ctx, e); err != nil {
					errs <- fmt.Errorf("send loop message %d: %w", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	return elapsed, <-errs
}
