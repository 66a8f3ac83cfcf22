package worker

import (
	"testing"
	"time"
)

// A run is checked at most once per period; a skipped check schedules one
// trailing check (not one per skipped chunk), timed for the end of the
// period; other runs are paced on their own.
func TestDonePacerChecksOnceAPeriodWithOneTrailingCheck(t *testing.T) {
	p := newDonePacer(time.Second)
	t0 := time.Unix(1000, 0)
	if now, trail, _ := p.take(1, t0); !now || trail {
		t.Fatalf("first chunk: check now %v, trailing %v; want a check now", now, trail)
	}
	now, trail, wait := p.take(1, t0.Add(300*time.Millisecond))
	if now || !trail || wait != 700*time.Millisecond {
		t.Fatalf("second chunk within the period: now %v trailing %v wait %v; want a trailing check in 700ms", now, trail, wait)
	}
	if now, trail, _ := p.take(1, t0.Add(400*time.Millisecond)); now || trail {
		t.Fatalf("third chunk: now %v trailing %v; the trailing check is already scheduled", now, trail)
	}
	if now, _, _ := p.take(2, t0.Add(400*time.Millisecond)); !now {
		t.Fatal("another run waits for run 1's pace")
	}
	p.trailingRan(1, t0.Add(time.Second))
	if now, trail, _ := p.take(1, t0.Add(1500*time.Millisecond)); now || !trail {
		t.Fatalf("after the trailing check: now %v trailing %v; want a new trailing check", now, trail)
	}
	if now, _, _ := p.take(1, t0.Add(2100*time.Millisecond)); !now {
		t.Fatal("a period after the last check, the run is checked at once")
	}
}
