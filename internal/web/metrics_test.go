package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/kizuna-alumni/kizuna/internal/metrics"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
	"github.com/kizuna-alumni/kizuna/internal/testredis"
	"github.com/kizuna-alumni/kizuna/internal/token"
)

// metricsRequestsSeen scrapes base/metrics and returns
// kizuna_http_requests_total by "route code", failing when the exposition
// does not parse.
func metricsRequestsSeen(t *testing.T, base string) (map[string]float64, string) {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %s", res.StatusCode, raw)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	out := map[string]float64{}
	for _, m := range fams[metrics.HTTPRequests].GetMetric() {
		var route, code string
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "route":
				route = l.GetValue()
			case "code":
				code = l.GetValue()
			}
		}
		out[route+" "+code] = m.GetCounter().GetValue()
	}
	return out, string(raw)
}

// Requests are counted by route pattern and status code, never by path.
func TestMetricsCountHTTPRequestsByRouteAndCode(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	rd := testredis.New(t)
	m := metrics.New()
	ts := healthServer(t, db.DB, rd.Client, Options{Metrics: m})

	get := func(path string) {
		t.Helper()
		res, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	get("/healthz")
	get("/healthz")
	get("/no/such/page-secret-path")
	get("/o/TOKEN-must-not-be-a-label")

	seen, raw := metricsRequestsSeen(t, ts.URL)
	if got := seen["GET /healthz 200"]; got != 2 {
		t.Errorf(`route "GET /healthz" code 200 = %v, want 2 (%v)`, got, seen)
	}
	if got := seen["/ 404"]; got != 1 {
		t.Errorf(`route "/" code 404 = %v, want 1 (%v)`, got, seen)
	}
	var tokenRoute float64
	for k, v := range seen {
		if strings.HasPrefix(k, "GET /o/{token} ") {
			tokenRoute += v
		}
	}
	if tokenRoute != 1 {
		t.Errorf(`route "GET /o/{token}" = %v, want 1 (%v)`, tokenRoute, seen)
	}
	for _, leak := range []string{"page-secret-path", "TOKEN-must-not-be-a-label"} {
		if strings.Contains(raw, leak) {
			t.Errorf("a request path became a label: %q in /metrics", leak)
		}
	}
	// The scrape itself is counted by the next one.
	seen, _ = metricsRequestsSeen(t, ts.URL)
	if got := seen["GET /metrics 200"]; got != 1 {
		t.Errorf(`route "GET /metrics" code 200 = %v, want 1 (%v)`, got, seen)
	}
}

// The handlers count through s.meter(); without metrics it is a no-op.
func TestMeterIsTheServersMetricsOrANoOp(t *testing.T) {
	m := metrics.New()
	if got := (&Server{opt: Options{Metrics: m}}).meter(); got != m {
		t.Errorf("meter() = %p, want the *metrics.Metrics of Options.Metrics %p", got, m)
	}
	none := &Server{}
	none.meter().Open("human") // must not panic
	h := http.NotFoundHandler()
	if none.instrument(h) == nil {
		t.Error("instrument without metrics returned nil")
	}
}

// Wrapping twice (the server's Handler and a caller) counts a request once.
func TestInstrumentTwiceCountsOnce(t *testing.T) {
	db, err := sqlx.Open("postgres", "postgres://127.0.0.1:1/none?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := metrics.New()
	s, err := New(Options{DB: db, Signer: token.New([]byte("0123456789abcdef0123456789abcdef-twice")), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	h := s.instrument(s.instrument(s.Handler()))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/nowhere", nil))
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	for _, f := range fams {
		if f.GetName() == metrics.HTTPRequests {
			for _, s := range f.GetMetric() {
				total += s.GetCounter().GetValue()
			}
		}
	}
	if total != 1 {
		t.Errorf("one request counted %v times", total)
	}
}
