package worker

import (
	"sync"
	"time"
)

// doneCheckEvery is how often, at most, a worker asks whether a run is
// done after one of its chunks (runs.FinishIfDone).
const doneCheckEvery = time.Second

// donePacer paces the check whether a run is done. The check looks for the
// run's open deliveries, and costs more the more of the run is already
// sent: made after every chunk of 200, it was the largest single part of
// Postgres's time per message of a 100k run. Paced to once a second per run,
// with one trailing check after a skipped one, a run is still marked done
// within about a second of its last recorded delivery (and the reconciler's
// pass marks it too).
type donePacer struct {
	mu       sync.Mutex
	every    time.Duration
	last     map[int64]time.Time // run → when it was last checked
	trailing map[int64]bool      // run → a trailing check is scheduled
}

func newDonePacer(every time.Duration) *donePacer {
	return &donePacer{every: every, last: map[int64]time.Time{}, trailing: map[int64]bool{}}
}

// take reports whether run may be checked now (and counts the check), and
// otherwise whether the caller must schedule the trailing check, after
// wait.
func (p *donePacer) take(run int64, now time.Time) (checkNow, scheduleTrailing bool, wait time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if last, ok := p.last[run]; !ok || now.Sub(last) >= p.every {
		p.last[run] = now
		if len(p.last) > 1000 {
			for r, t := range p.last {
				if now.Sub(t) > time.Minute && !p.trailing[r] {
					delete(p.last, r)
				}
			}
		}
		return true, false, 0
	}
	if p.trailing[run] {
		return false, false, 0
	}
	p.trailing[run] = true
	return false, true, p.every - now.Sub(p.last[run])
}

// trailingRan records that run's trailing check is running now.
func (p *donePacer) trailingRan(run int64, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.trailing, run)
	p.last[run] = now
}
