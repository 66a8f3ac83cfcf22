package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/campaigns"
)

// BenchmarkTick measures one scheduler pass over many loaded campaigns
// (half one-off, half cron with event reminders) when nothing is due: the
// cost paid every tick, which must stay far below the 5 s tick.
func BenchmarkTick(b *testing.B) {
	const n = 2000
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	c := &clock{t: t0}
	set := make([]*campaigns.Campaign, 0, n)
	for i := range n {
		cp := &campaigns.Campaign{ID: fmt.Sprintf("c-%d", i), Kind: campaigns.KindNewsletter, Digest: "v1"}
		if i%2 == 0 {
			at := t0.Add(time.Duration(i+1) * time.Hour)
			cp.Schedule.At = &at
		} else {
			cp.Kind = campaigns.KindEvent
			cp.Schedule.Cron = "10 10 5 * *"
			cp.Event = &campaigns.Event{StartsAt: t0.AddDate(0, 1, 0), Reminders: []time.Duration{72 * time.Hour, 3 * time.Hour}}
		}
		set = append(set, cp)
	}
	db := newFixture(b, t0).db
	s, err := New(Options{Dir: b.TempDir(), DB: db.DB, Now: c.Now, Log: slog.New(slog.DiscardHandler),
		Load:  func(string) ([]*campaigns.Campaign, []string) { return set, nil },
		Start: RunStarter(db.DB, nil)})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	start := time.Now()
	if _, err := s.Reload(ctx); err != nil {
		b.Fatal(err)
	}
	reload := time.Since(start)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Add(time.Second)
		s.Tick(ctx)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/tick")
	b.ReportMetric(float64(reload.Milliseconds()), "ms/first-load")
	b.ReportMetric(n, "campaigns")
}
