package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape fetches h's /metrics and parses the text format.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

func TestEveryMetricIsExposedAndMoves(t *testing.T) {
	m := New()
	m.Sent(30 * time.Millisecond)
	m.Sent(10 * time.Millisecond)
	m.SendTime(time.Millisecond)
	m.Failed()
	m.Retried()
	m.Retried()
	m.Retried()
	m.Bounced()
	m.Open("human")
	m.Open("apple_mpp")
	m.Open("<script>") // unknown classes collapse into "unknown"
	m.Click("scanner")
	m.Unsubscribed()
	m.RSVP("yes")
	m.RSVP("yes")
	m.RSVP("no")
	m.RSVP("<script>") // unknown answers collapse into "other"
	m.Request("GET /o/{token}", 200, time.Millisecond)
	m.Request("GET /o/{token}", 200, time.Millisecond)
	m.Request("/", 404, time.Millisecond)
	m.WatchQueue(func(context.Context) (int64, error) { return 42, nil }, nil)

	fams := scrape(t, m)
	value := func(name string, labels ...string) float64 {
		t.Helper()
		f, ok := fams[name]
		if !ok {
			t.Fatalf("%s not exposed", name)
		}
	next:
		for _, mt := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range mt.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			switch {
			case mt.Counter != nil:
				return mt.Counter.GetValue()
			case mt.Gauge != nil:
				return mt.Gauge.GetValue()
			case mt.Histogram != nil:
				return float64(mt.Histogram.GetSampleCount())
			}
		}
		t.Fatalf("%s%v: no such sample", name, labels)
		return 0
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{MessagesSent, nil, 2},
		{SendDuration, nil, 3},
		{MessagesFailed, nil, 1},
		{MessagesRetried, nil, 3},
		{MessagesBounced, nil, 1},
		{Opens, []string{"class", "human"}, 1},
		{Opens, []string{"class", "apple_mpp"}, 1},
		{Opens, []string{"class", "unknown"}, 1},
		{Clicks, []string{"class", "scanner"}, 1},
		{Unsubscribes, nil, 1},
		{RSVPs, []string{"answer", "yes"}, 2},
		{RSVPs, []string{"answer", "no"}, 1},
		{RSVPs, []string{"answer", "other"}, 1},
		{HTTPRequests, []string{"route", "GET /o/{token}", "code", "200"}, 2},
		{HTTPRequests, []string{"route", "/", "code", "404"}, 1},
		{HTTPRequestDuration, []string{"route", "GET /o/{token}"}, 2},
		{QueueDepth, nil, 42},
	} {
		if got := value(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("%s (Go/process collectors) not exposed", name)
		}
	}
	if n, err := testutil.GatherAndCount(m.Registry(), MessagesSent); err != nil || n != 1 {
		t.Errorf("GatherAndCount(%s) = %d, %v", MessagesSent, n, err)
	}
}

// Each Metrics has its own registry: two in one process neither collide
// nor see each other's counts.
func TestRegistriesAreSeparate(t *testing.T) {
	a, b := New(), New()
	a.Bounced()
	if got := testutil.ToFloat64(b.bounced); got != 0 {
		t.Errorf("b's bounces = %v after a.Bounced(), want 0", got)
	}
	if got := testutil.ToFloat64(a.bounced); got != 1 {
		t.Errorf("a's bounces = %v, want 1", got)
	}
}

func TestNilMetricsIsANoOp(t *testing.T) {
	var m *Metrics
	m.Sent(time.Second)
	m.SendTime(time.Second)
	m.Failed()
	m.Retried()
	m.Bounced()
	m.Open("human")
	m.Click("human")
	m.Unsubscribed()
	m.RSVP("yes")
	m.Request("/", 200, time.Second)
	m.WatchQueue(func(context.Context) (int64, error) { return 1, nil }, nil)
	if m.Registry() != nil {
		t.Error("nil Metrics has a registry")
	}
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("nil Metrics serves %d, want 404", rec.Code)
	}
}

// A failing queue reading leaves the gauge out (not a false 0) and the
// rest of the scrape is still served; the error is logged.
func TestQueueDepthErrorLeavesTheGaugeOut(t *testing.T) {
	m := New()
	var logged strings.Builder
	m.WatchQueue(func(ctx context.Context) (int64, error) {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("queue depth read without a deadline")
		}
		return 0, errors.New("database is down")
	}, slog.New(slog.NewTextHandler(&logged, nil)))
	m.Sent(time.Millisecond)
	fams := scrape(t, m)
	if _, ok := fams[QueueDepth]; ok {
		t.Errorf("%s exposed although reading it failed", QueueDepth)
	}
	if _, ok := fams[MessagesSent]; !ok {
		t.Errorf("%s missing: one failing collector hid the rest", MessagesSent)
	}
	if !strings.Contains(logged.String(), "database is down") {
		t.Errorf("error not logged: %q", logged.String())
	}
}
