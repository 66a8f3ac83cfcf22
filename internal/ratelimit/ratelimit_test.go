package ratelimit

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kizuna-alumni/kizuna/internal/testredis"
)

// TestConcurrentAllowHoldsTheCount races 25 events from 5 goroutines over
// two separate Redis clients (two "machines") against 10 a minute.
func TestConcurrentAllowHoldsTheCount(t *testing.T) {
	t.Parallel()
	r := testredis.New(t)
	other := redis.NewClient(&redis.Options{Addr: r.Addr, DB: r.DB})
	t.Cleanup(func() { other.Close() })
	limiters := []*Limiter{New(r.Client), New(other)}

	var allowed, denied atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, 25)
	for g := range 5 {
		wg.Go(func() {
			for range 5 {
				ok, retry, err := limiters[g%2].Allow(context.Background(), RunKey(7), 10, time.Minute, time.Time{})
				switch {
				case err != nil:
					errs <- err
				case ok:
					allowed.Add(1)
				case retry <= 0 || retry > time.Minute:
					errs <- fmt.Errorf("denied with retryIn %v, want (0, 1m]", retry)
				default:
					denied.Add(1)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if allowed.Load() != 10 || denied.Load() != 15 {
		t.Fatalf("allowed %d, denied %d; want 10 and 15", allowed.Load(), denied.Load())
	}
	ttl := r.Client.PTTL(context.Background(), Prefix+"run:7").Val()
	if ttl <= 0 || ttl > time.Minute+2*time.Second {
		t.Errorf("key TTL = %v, want it to expire about a minute after the last event", ttl)
	}
}

// TestSlidingWindow checks with an explicit clock that room opens exactly
// when the oldest event leaves the window, never earlier.
func TestSlidingWindow(t *testing.T) {
	t.Parallel()
	l := New(testredis.New(t).Client)
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 10, 10, 0, 0, time.UTC)
	allow := func(at time.Duration) (bool, time.Duration) {
		t.Helper()
		ok, retry, err := l.Allow(ctx, "run:1", 3, time.Minute, t0.Add(at))
		if err != nil {
			t.Fatal(err)
		}
		return ok, retry
	}
	for _, at := range []time.Duration{0, 10 * time.Second, 20 * time.Second} {
		if ok, _ := allow(at); !ok {
			t.Fatalf("event at %v denied under the limit", at)
		}
	}
	ok, retry := allow(30 * time.Second)
	if ok || retry != 30*time.Second {
		t.Fatalf("4th event at 30s: ok=%v retryIn=%v, want denied for 30s", ok, retry)
	}
	if ok, _ := allow(59 * time.Second); ok {
		t.Fatal("allowed at 59s while 3 events are in the last minute")
	}
	if ok, _ := allow(60*time.Second + time.Millisecond); !ok {
		t.Fatal("denied at 60.001s after the first event left the window")
	}
	ok, retry = allow(61 * time.Second)
	if ok || retry != 9*time.Second {
		t.Fatalf("at 61s: ok=%v retryIn=%v, want denied for 9s (the 10s event leaves at 70s)", ok, retry)
	}
}

// TestDeniedMultiLimitConsumesNothing: a delivery held back by its domain
// must not use up its run's budget.
func TestDeniedMultiLimitConsumesNothing(t *testing.T) {
	t.Parallel()
	r := testredis.New(t)
	l := New(r.Client)
	ctx := context.Background()
	run := Limit{Key: RunKey(1), Count: 5, Per: time.Minute}
	docomo := Limit{Key: DomainKey("docomo.ne.jp"), Count: 2, Per: time.Minute}
	relay := Limit{Key: RelayKey("hr@smtp.example.jp"), Count: 1000, Per: 24 * time.Hour}
	var ok, held int
	for range 6 {
		d, err := l.AllowAll(ctx, time.Time{}, run, relay, docomo)
		if err != nil {
			t.Fatal(err)
		}
		if d.OK {
			ok++
			continue
		}
		held++
		if d.Denied != docomo.Key || d.RetryIn <= 0 {
			t.Errorf("denied by %q after %v, want the docomo limit", d.Denied, d.RetryIn)
		}
	}
	if ok != 2 || held != 4 {
		t.Fatalf("ok %d held %d, want 2 and 4", ok, held)
	}
	for key, want := range map[string]int64{run.Key: 2, relay.Key: 2, docomo.Key: 2} {
		if n := r.Client.ZCard(ctx, Prefix+key).Val(); n != want {
			t.Errorf("%s holds %d events, want %d (held deliveries must not count)", key, n, want)
		}
	}
	// The run still has 3 of its 5 for other domains.
	for i := range 3 {
		d, err := l.AllowAll(ctx, time.Time{}, run, relay, DomainLimitFor("taro@example.jp", nil))
		if err != nil || !d.OK {
			t.Fatalf("gmail-bound delivery %d: %+v %v", i, d, err)
		}
	}
	d, _ := l.AllowAll(ctx, time.Time{}, run, relay)
	if d.OK || d.Denied != run.Key {
		t.Fatalf("6th of the run allowed or wrong key: %+v", d)
	}
	keys := r.Client.Keys(ctx, "*").Val()
	for _, k := range keys {
		if !strings.HasPrefix(k, Prefix) {
			t.Errorf("key %q outside %s", k, Prefix)
		}
	}
}

func TestAllowAllEdgeCases(t *testing.T) {
	t.Parallel()
	l := New(testredis.New(t).Client)
	ctx := context.Background()
	if d, err := l.AllowAll(ctx, time.Time{}); err != nil || !d.OK {
		t.Errorf("no limits: %+v %v", d, err)
	}
	if d, err := l.AllowAll(ctx, time.Time{}, Limit{Key: "run:1", Count: 0, Per: time.Minute}); err != nil || !d.OK {
		t.Errorf("zero count is unlimited: %+v %v", d, err)
	}
	if _, err := l.AllowAll(ctx, time.Time{}, Limit{Key: "run:1", Count: 1}); err == nil {
		t.Error("zero period accepted")
	}
	if _, err := l.AllowAll(ctx, time.Time{}, Limit{Count: 1, Per: time.Second}); err == nil {
		t.Error("empty key accepted")
	}
}

func TestDomainOf(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Taro@DoCoMo.ne.jp":    "docomo.ne.jp",
		`"a@b"@ezweb.ne.jp`:    "ezweb.ne.jp",
		"x@example.jp.":        "example.jp",
		"no-at-sign":           "",
		"hanako@i.softbank.jp": "i.softbank.jp",
		" spaced@au.com ":      "au.com",
	} {
		if got := DomainOf(in); got != want {
			t.Errorf("DomainOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDomainLimit(t *testing.T) {
	t.Parallel()
	overrides := map[string]int{"DoCoMo.ne.jp": 10, "example.co.jp": 100, "au.com": 0}
	cases := []struct {
		domain string
		key    string
		perMin int
	}{
		{"docomo.ne.jp", "docomo.ne.jp", 10},     // override wins over the default
		{"sub.docomo.ne.jp", "docomo.ne.jp", 10}, // subdomain shares the carrier's budget
		{"ezweb.ne.jp", "ezweb.ne.jp", DefaultCarrierPerMinute},
		{"softbank.ne.jp", "softbank.ne.jp", DefaultCarrierPerMinute},
		{"i.softbank.jp", "i.softbank.jp", DefaultCarrierPerMinute},
		{"au.com", "", 0}, // override 0 switches the default off
		{"example.co.jp", "example.co.jp", 100},
		{"gmail.com", "", 0},
		{"softbank.jp", "", 0}, // only i.softbank.jp is a carrier mail domain
	}
	for _, c := range cases {
		key, n := DomainLimit(c.domain, overrides)
		if key != c.key || n != c.perMin {
			t.Errorf("DomainLimit(%q) = %q %d, want %q %d", c.domain, key, n, c.key, c.perMin)
		}
	}
	if key, n := DomainLimit("au.com", nil); key != "au.com" || n != 30 {
		t.Errorf("built-in au.com = %q %d", key, n)
	}
	if lim := DomainLimitFor("x@sub.ezweb.ne.jp", nil); lim.Key != "domain:ezweb.ne.jp" || lim.Count != 30 || lim.Per != time.Minute {
		t.Errorf("DomainLimitFor = %+v", lim)
	}
}

// TestCancelledReservationFreesItsRoom: a quota of 3 a day, 3 reservations
// of which the relay accepted only one: the two cancelled ones give their
// room back, in every window they were recorded in.
func TestCancelledReservationFreesItsRoom(t *testing.T) {
	t.Parallel()
	r := testredis.New(t)
	l := New(r.Client)
	ctx := context.Background()
	day := Limit{Key: RelayKey("hr@example.co.jp@smtp.example.jp"), Count: 3, Per: 24 * time.Hour}
	minute := Limit{Key: RunKey(99), Count: 3, Per: time.Minute}
	var held []Reservation
	for i := range 3 {
		d, err := l.AllowAll(ctx, time.Time{}, day, minute)
		if err != nil || !d.OK {
			t.Fatalf("reservation %d: %+v %v", i, d, err)
		}
		held = append(held, d.Reservation)
	}
	if d, _ := l.AllowAll(ctx, time.Time{}, day, minute); d.OK {
		t.Fatal("a fourth message passed a quota of 3")
	}
	for _, res := range held[1:] {
		if err := l.Cancel(ctx, res); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Cancel(ctx, held[1]); err != nil { // twice: no effect
		t.Fatal(err)
	}
	for i := range 2 {
		if d, err := l.AllowAll(ctx, time.Time{}, day, minute); err != nil || !d.OK {
			t.Fatalf("after cancelling two, message %d denied: %+v %v", i, d, err)
		}
	}
	if d, _ := l.AllowAll(ctx, time.Time{}, day, minute); d.OK {
		t.Fatal("the quota let a fourth accepted message through")
	}
	if err := l.Cancel(ctx, Reservation{}); err != nil {
		t.Fatalf("zero reservation: %v", err)
	}
}
