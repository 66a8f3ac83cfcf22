package mailer

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestBackoffDelayBounds(t *testing.T) {
	t.Parallel()
	rnd := rand.New(rand.NewPCG(1, 2))
	for attempt := -1; attempt <= 40; attempt++ {
		ceiling := BackoffCap
		if n := max(attempt, 1); n <= 8 {
			ceiling = min(BackoffCap, BackoffBase<<(n-1))
		}
		seen := map[time.Duration]bool{}
		for range 200 {
			d := BackoffDelay(attempt, rnd)
			if d < BackoffBase/2 || d > ceiling {
				t.Fatalf("attempt %d: delay %v outside [%v, %v]", attempt, d, BackoffBase/2, ceiling)
			}
			seen[d] = true
		}
		if len(seen) < 150 {
			t.Errorf("attempt %d: only %d distinct delays in 200: no jitter", attempt, len(seen))
		}
	}
	// The ceiling grows: late attempts reach far beyond early ones.
	var late time.Duration
	for range 100 {
		late = max(late, BackoffDelay(10, nil))
	}
	if late < 10*time.Minute {
		t.Errorf("attempt 10 never waited 10 minutes (max %v)", late)
	}
}
