package worker

import (
	"sync"
	"sync/atomic"

	"github.com/kizuna-alumni/kizuna/internal/mailer"
)

// Defaults of the sender circuit breaker (README "Guarantees").
const (
	// DefaultBreakerFailures is how many deliveries in a row must fail with
	// the same permanent reply before the run is paused.
	DefaultBreakerFailures = 10
	// DefaultBreakerDomains is how many different recipient domains those
	// failures must span: one domain refusing everyone is that domain's
	// policy, several refusing alike is the relay refusing the sender.
	DefaultBreakerDomains = 3
)

// senderBreaker pauses a run whose relay refuses the sender with a reply
// that looks like a recipient's problem: SES's "554 Message rejected: Email
// address is not verified", a relay's "550 5.7.1 sender not permitted"
// after DATA. The same permanent reply, with addresses and numbers
// ignored, for N consecutive deliveries of the run across D domains trips
// it. Any accepted message of the run resets the streak. It counts in one
// worker process; with several workers each trips on its own share.
type senderBreaker struct {
	failures, domains int

	// streaking counts the runs with a streak, so that an accepted
	// message, the common case, resets nothing without the lock.
	streaking atomic.Int32

	mu      sync.Mutex
	streaks map[int64]*streak // by run id
}

// streak is a run of identical permanent failures.
type streak struct {
	pattern string
	count   int
	domains map[string]bool
	replies map[string]bool // the exact replies recorded, for requeueing
}

func newSenderBreaker(failures, domains int) *senderBreaker {
	return &senderBreaker{failures: failures, domains: domains, streaks: map[int64]*streak{}}
}

// accepted resets run's streak.
func (b *senderBreaker) accepted(run int64) {
	if b.streaking.Load() == 0 {
		return
	}
	b.mu.Lock()
	if _, ok := b.streaks[run]; ok {
		delete(b.streaks, run)
		b.streaking.Add(-1)
	}
	b.mu.Unlock()
}

// failed counts one permanent failure of run to an address at domain with
// the recorded reply. When the streak trips the breaker it returns the
// exact replies of the streak (to requeue the deliveries that failed with
// them) and resets; otherwise nil.
func (b *senderBreaker) failed(run int64, domain, reply string) (trip []string) {
	if b.failures <= 0 {
		return nil
	}
	p := mailer.ReplyPattern(reply)
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.streaks[run]
	if s == nil {
		b.streaking.Add(1)
	}
	if s == nil || s.pattern != p {
		s = &streak{pattern: p, domains: map[string]bool{}, replies: map[string]bool{}}
		b.streaks[run] = s
	}
	s.count++
	s.domains[domain] = true
	s.replies[reply] = true
	if s.count < b.failures || len(s.domains) < b.domains {
		return nil
	}
	delete(b.streaks, run)
	b.streaking.Add(-1)
	out := make([]string, 0, len(s.replies))
	for r := range s.replies {
		out = append(out, r)
	}
	return out
}
