package worker

import (
	"fmt"
	"testing"
	"time"
)

func TestRelayGateLetsOneProbeThroughWithBackoff(t *testing.T) {
	t.Parallel()
	g := newRelayGate(time.Second, 8*time.Second, 5*time.Minute)
	t0 := time.Unix(1_800_000_000, 0)
	if ok, _ := g.admit(t0); !ok {
		t.Fatal("a healthy relay is not admitted")
	}
	o := g.failed(t0, "connection refused")
	if !o.first || !o.log || o.alert {
		t.Fatalf("first failure: %+v", o)
	}
	if ok, at := g.admit(t0.Add(100 * time.Millisecond)); ok || !at.Equal(o.nextTry) {
		t.Fatalf("admitted before the next try (%v, %v)", ok, at)
	}
	// Waits grow (within the ±20 % jitter) and stop at the maximum.
	now := t0
	var waits []time.Duration
	for range 6 {
		now = now.Add(10 * time.Second)
		if ok, _ := g.admit(now); !ok {
			t.Fatal("no probe admitted once the next try came")
		}
		if ok, _ := g.admit(now); ok {
			t.Fatal("two probes admitted at once")
		}
		o = g.failed(now, "connection refused")
		waits = append(waits, o.nextTry.Sub(now))
	}
	for i, w := range waits {
		want := min(time.Second<<(i+1), 8*time.Second)
		if float64(w) < 0.79*float64(want) || float64(w) > 1.21*float64(want) {
			t.Errorf("wait %d = %v, want %v ±20%%", i, w, want)
		}
	}
	if !o.since.Equal(t0) {
		t.Errorf("outage since %v, want %v", o.since, t0)
	}
	// An outage over alertAfter alerts once.
	if o.alert {
		t.Fatal("an alert before alertAfter")
	}
	o = g.failed(t0.Add(6*time.Minute), "x")
	if !o.alert || !o.log {
		t.Fatalf("after 6 minutes: %+v, want an alert and a log line", o)
	}
	if o = g.failed(t0.Add(6*time.Minute+time.Second), "x"); o.alert || o.log {
		t.Fatalf("a second alert or a log line within the minute: %+v", o)
	}
	if ended, lasted := g.answered(t0.Add(7 * time.Minute)); !ended || lasted != 7*time.Minute {
		t.Fatalf("answered: %v %v", ended, lasted)
	}
	if ok, _ := g.admit(t0.Add(7 * time.Minute)); !ok {
		t.Fatal("not admitted after the relay answered")
	}
}

func TestSenderBreaker(t *testing.T) {
	t.Parallel()
	b := newSenderBreaker(4, 2)
	reply := func(i int) string {
		return fmt.Sprintf("smtp DATA: 554 Message rejected: Email address is not verified <r%d@x.jp> id %x (permanent)", i, i*7919)
	}
	// One domain alone never trips it.
	for i := range 10 {
		if b.failed(1, "docomo.ne.jp", reply(i)) != nil {
			t.Fatal("one domain tripped the breaker")
		}
	}
	// An accepted message resets the streak.
	b.accepted(1)
	b.failed(1, "a.jp", reply(1))
	b.failed(1, "b.jp", reply(2))
	b.accepted(1)
	b.failed(1, "a.jp", reply(3))
	b.failed(1, "b.jp", reply(4))
	b.failed(1, "a.jp", reply(5))
	got := b.failed(1, "b.jp", reply(6))
	if len(got) != 4 {
		t.Fatalf("4 alike failures across 2 domains: trip %v", got)
	}
	// A different reply starts a new streak; other runs are apart.
	b.failed(2, "a.jp", reply(1))
	b.failed(2, "b.jp", "smtp RCPT: 550 5.1.1 no such user (permanent)")
	b.failed(2, "a.jp", reply(2))
	if b.failed(2, "b.jp", reply(3)) != nil {
		t.Fatal("a streak broken by another reply tripped")
	}
	if b.streaking.Load() != 1 {
		t.Errorf("streaking = %d, want 1", b.streaking.Load())
	}
}

func TestLogBudget(t *testing.T) {
	t.Parallel()
	b := newLogBudget(3, time.Minute)
	t0 := time.Unix(1_800_000_000, 0)
	n := 0
	for i := range 100 {
		if ok, _ := b.take(t0.Add(time.Duration(i) * 100 * time.Millisecond)); ok {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("%d lines in a storm, want 3", n)
	}
	ok, skipped := b.take(t0.Add(2 * time.Minute))
	if !ok || skipped != 97 {
		t.Fatalf("next minute: %v, skipped %d, want 97", ok, skipped)
	}
}
