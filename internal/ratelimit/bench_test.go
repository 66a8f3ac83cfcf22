package ratelimit

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/internal/testredis"
)

// BenchmarkAchievedRate drives one limit of 200 a second from 4 goroutines
// for 5 seconds (the shape of 600 a minute, scaled up so the run is short);
// each goroutine sleeps for the retryIn it is told. It reports the achieved
// rate against the limit, which must stay within 10%.
func BenchmarkAchievedRate(b *testing.B) {
	const (
		limit      = 200
		per        = time.Second
		duration   = 5 * time.Second
		goroutines = 4
	)
	r := testredis.New(b)
	l := New(r.Client)
	ctx := context.Background()
	var rate, calls float64
	for i := 0; b.Loop(); i++ {
		key := RunKey(int64(1000 + i))
		var allowed, tries atomic.Int64
		start := time.Now()
		end := start.Add(duration)
		var wg sync.WaitGroup
		for range goroutines {
			wg.Go(func() {
				for time.Now().Before(end) {
					tries.Add(1)
					ok, retry, err := l.Allow(ctx, key, limit, per, time.Time{})
					if err != nil {
						b.Error(err)
						return
					}
					if ok {
						allowed.Add(1)
						continue
					}
					time.Sleep(min(retry, time.Until(end)))
				}
			})
		}
		wg.Wait()
		rate = float64(allowed.Load()) / duration.Seconds()
		calls = float64(tries.Load())
	}
	want := float64(limit) / per.Seconds()
	dev := (rate - want) / want * 100
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(want, "limit/s")
	b.ReportMetric(dev, "deviation%")
	b.ReportMetric(0, "ns/op")
	b.Logf("rate limit | cpus %d | goroutines %d | limit %d/%v | %v | achieved %.1f/s (%+.1f%%) | %0.f calls",
		runtime.NumCPU(), goroutines, limit, per, duration, rate, dev, calls)
	if dev > 10 || dev < -10 {
		b.Errorf("achieved %.1f/s is more than 10%% away from the limit %.0f/s", rate, want)
	}
}

// BenchmarkAllowAll measures the cost of one three-limit check (run, relay,
// domain) as a worker makes it before every send.
func BenchmarkAllowAll(b *testing.B) {
	r := testredis.New(b)
	l := New(r.Client)
	ctx := context.Background()
	limits := []Limit{
		{Key: RunKey(1), Count: 1 << 30, Per: time.Minute},
		{Key: RelayKey("hr@smtp.example.jp"), Count: 1 << 30, Per: time.Minute},
		{Key: DomainKey("docomo.ne.jp"), Count: 1 << 30, Per: time.Minute},
	}
	const n = 5000
	start := time.Now()
	for b.Loop() {
		for range n {
			if d, err := l.AllowAll(ctx, time.Time{}, limits...); err != nil || !d.OK {
				b.Fatal(d, err)
			}
		}
	}
	el := time.Since(start)
	per := el / time.Duration(n*b.N)
	b.ReportMetric(float64(per.Microseconds()), "µs/check")
	b.ReportMetric(0, "ns/op")
	b.Logf("AllowAll, 3 limits, one goroutine | %d checks | %v each", n*b.N, per)
}
