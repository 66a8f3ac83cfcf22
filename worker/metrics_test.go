package worker_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kizuna-alumni/kizuna/internal/metrics"
	"github.com/kizuna-alumni/kizuna/internal/smtptest"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
	"github.com/kizuna-alumni/kizuna/internal/testredis"
	"github.com/kizuna-alumni/kizuna/worker"
)

// The worker counts what the relay answered: accepted (with the SMTP
// transaction time), retried (4xx), bounced (5.1.1) and failed (other
// 5xx), as scraped from /metrics.
func TestWorkerCountsOutcomesInMetrics(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	rd := testredis.New(t)
	srv := smtptest.Start(t)
	seedAlumni(t, db, 10)
	var deferred atomic.Bool
	srv.SetFault(func(stage smtptest.Stage, _ string, to []string) error {
		if stage != smtptest.StageRcpt {
			return nil
		}
		switch to[0] {
		case "r3@example.jp":
			return smtptest.Reply(550, "5.1.1", "no such user")
		case "r5@example.jp":
			return smtptest.Reply(550, "5.7.1", "recipient policy refuses this message")
		case "r7@example.jp":
			if deferred.CompareAndSwap(false, true) {
				return smtptest.Reply(451, "4.3.0", "try again later")
			}
		}
		return nil
	})
	m := metrics.New()
	run := startRun(t, db, rd.URL, newsletter("news"))
	inProcess(t, db, rd.URL, srv.URL(), func(o *worker.Options) { o.Metrics = m })
	waitRun(t, db, run.ID, 30*time.Second)

	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		if c := f.GetMetric()[0].GetCounter(); c != nil {
			got[f.GetName()] = c.GetValue()
		}
	}
	want := map[string]float64{metrics.MessagesSent: 8, metrics.MessagesRetried: 1, metrics.MessagesBounced: 1, metrics.MessagesFailed: 1}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s = %v, want %v", name, got[name], w)
		}
	}
	// Every answered transaction is timed: 8 accepted, 1 deferred, 2 refused.
	n, err := testutil.GatherAndCount(m.Registry(), metrics.SendDuration)
	if err != nil || n != 1 {
		t.Fatalf("%s: %d series, %v", metrics.SendDuration, n, err)
	}
	for _, f := range fams {
		if f.GetName() == metrics.SendDuration {
			h := f.GetMetric()[0].GetHistogram()
			if h.GetSampleCount() != 11 || h.GetSampleSum() <= 0 {
				t.Errorf("%s: %d samples summing to %vs, want 11 and a positive sum", metrics.SendDuration, h.GetSampleCount(), h.GetSampleSum())
			}
		}
	}
}
