package worker

import (
	"sync"
	"time"
)

// logBudget rate-limits a kind of log line during a storm: at most max
// lines per period, and the number left out is reported with the first
// line of the next period. A relay refusing thousands of messages then
// writes a few dozen lines a minute, not thousands.
type logBudget struct {
	max    int
	period time.Duration

	mu      sync.Mutex
	start   time.Time
	used    int
	skipped int
}

func newLogBudget(max int, period time.Duration) *logBudget {
	return &logBudget{max: max, period: period}
}

// take reports whether a line may be written now and, when it may, how
// many lines were left out before it.
func (b *logBudget) take(now time.Time) (ok bool, skipped int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.Sub(b.start) >= b.period {
		b.start, b.used = now, 0
	}
	if b.used >= b.max {
		b.skipped++
		return false, 0
	}
	b.used++
	skipped, b.skipped = b.skipped, 0
	return true, skipped
}

// onceEvery lets one log line per key through per period: "run 12 is held
// by the quota" is said once a minute, however many chunks find it so.
type onceEvery struct {
	period time.Duration

	mu   sync.Mutex
	last map[string]time.Time
}

func newOnceEvery(period time.Duration) *onceEvery {
	return &onceEvery{period: period, last: map[string]time.Time{}}
}

// take reports whether key may be logged now.
func (o *onceEvery) take(key string, now time.Time) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if t, ok := o.last[key]; ok && now.Sub(t) < o.period {
		return false
	}
	if len(o.last) > 10000 {
		clear(o.last) // bounded memory; a repeated line is harmless
	}
	o.last[key] = now
	return true
}
