package mailer

import (
	"math/rand/v2"
	"time"
)

// Bounds of BackoffDelay.
const (
	// BackoffBase is the first retry's upper bound: long enough for a
	// greylisting relay (which typically wants ≥ 1 minute) to accept the
	// second or third try.
	BackoffBase = 30 * time.Second
	// BackoffCap bounds every delay; Gmail asks rate-limited senders to
	// wait at least 10 minutes (4.7.28), an hour covers longer outages.
	BackoffCap = time.Hour
)

// BackoffDelay is the wait before retry number attempt (1 for the first
// retry) of a delivery that failed temporarily: "full jitter" exponential
// backoff, a uniformly random delay in [BackoffBase/2, min(BackoffCap,
// BackoffBase·2^(attempt-1))]. The randomness spreads the retries of the
// thousands of deliveries a relay outage fails at the same moment, so they
// do not come back as one burst; the floor of half the base keeps a retry
// from hammering a relay that just answered 4xx. rnd may be nil (a shared
// source is then used); pass a seeded one for repeatable tests.
func BackoffDelay(attempt int, rnd *rand.Rand) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	ceiling := BackoffCap
	if attempt <= 20 { // 30 s · 2^19 already exceeds the cap
		if d := BackoffBase << (attempt - 1); d < ceiling {
			ceiling = d
		}
	}
	floor := BackoffBase / 2
	span := int64(ceiling - floor)
	var n int64
	if rnd != nil {
		n = rnd.Int64N(span + 1)
	} else {
		n = rand.Int64N(span + 1)
	}
	return floor + time.Duration(n)
}
