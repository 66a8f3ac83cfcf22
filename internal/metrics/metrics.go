// Package metrics defines every Prometheus metric Kizuna exposes, in one
// place, and a small API the other packages call without knowing
// Prometheus. Each process makes one *Metrics (its own registry, never the
// global one) and serves it on /metrics; a nil *Metrics is valid and
// records nothing, so packages run without metrics in tests.
//
// Names follow the Prometheus conventions (https://prometheus.io/docs/practices/naming/):
// a kizuna_ prefix, base units (seconds), _total on counters.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metric names, exported so that tests and docs cite them once.
const (
	MessagesSent        = "kizuna_messages_sent_total"
	MessagesFailed      = "kizuna_messages_failed_total"
	MessagesRetried     = "kizuna_messages_retried_total"
	MessagesBounced     = "kizuna_messages_bounced_total"
	SendDuration        = "kizuna_send_duration_seconds"
	QueueDepth          = "kizuna_queue_depth"
	Opens               = "kizuna_opens_total"
	Clicks              = "kizuna_clicks_total"
	Unsubscribes        = "kizuna_unsubscribes_total"
	RSVPs               = "kizuna_rsvps_total"
	HTTPRequests        = "kizuna_http_requests_total"
	HTTPRequestDuration = "kizuna_http_request_duration_seconds"
)

// QueueDepthTimeout bounds one reading of the queue depth during a scrape.
const QueueDepthTimeout = 2 * time.Second

// Metrics holds one process's collectors and their registry.
type Metrics struct {
	reg *prometheus.Registry

	sent, failed, retried, bounced prometheus.Counter
	sendTime                       prometheus.Histogram
	opens, clicks                  *prometheus.CounterVec
	unsubscribes                   prometheus.Counter
	rsvps                          *prometheus.CounterVec
	httpRequests                   *prometheus.CounterVec
	httpTime                       *prometheus.HistogramVec
	handler                        http.Handler
}

// New makes the process's metrics on a registry of their own, with the Go
// runtime and process collectors. The counters start at zero; the queue
// depth is exposed once WatchQueue is called.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.sent = prometheus.NewCounter(prometheus.CounterOpts{Name: MessagesSent,
		Help: "Messages the relay accepted (SMTP 250 after DATA)."})
	m.failed = prometheus.NewCounter(prometheus.CounterOpts{Name: MessagesFailed,
		Help: "Deliveries that failed for good at send time, hard bounces aside: a permanent SMTP refusal, or the last attempt of a temporary failure."})
	m.retried = prometheus.NewCounter(prometheus.CounterOpts{Name: MessagesRetried,
		Help: "Temporary failures (SMTP 4xx) scheduled for another attempt."})
	m.bounced = prometheus.NewCounter(prometheus.CounterOpts{Name: MessagesBounced,
		Help: "Hard bounces at send time (5.1.1, 5.1.2, 5.1.6, 5.1.10): the address is suppressed."})
	m.sendTime = prometheus.NewHistogram(prometheus.HistogramOpts{Name: SendDuration,
		Help:    "Time of the SMTP transaction of one message the relay answered (accepted or refused), in seconds.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}})
	m.opens = prometheus.NewCounterVec(prometheus.CounterOpts{Name: Opens,
		Help: "Open-pixel loads, by classification (human, apple_mpp, proxy, scanner, unknown)."}, []string{"class"})
	m.clicks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: Clicks,
		Help: "Tracked-link clicks, by classification (human, apple_mpp, proxy, scanner, unknown)."}, []string{"class"})
	m.unsubscribes = prometheus.NewCounter(prometheus.CounterOpts{Name: Unsubscribes,
		Help: "Unsubscribes recorded (one-click POST, the page, or mail)."})
	m.rsvps = prometheus.NewCounterVec(prometheus.CounterOpts{Name: RSVPs,
		Help: "RSVP answers recorded that changed a person's answer, by answer (yes, no, maybe); the same answer again is not counted."}, []string{"answer"})
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: HTTPRequests,
		Help: "HTTP requests answered, by route pattern and status code."}, []string{"route", "code"})
	m.httpTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: HTTPRequestDuration,
		Help:    "Time to answer an HTTP request, by route pattern, in seconds.",
		Buckets: prometheus.DefBuckets}, []string{"route"})
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.sent, m.failed, m.retried, m.bounced, m.sendTime,
		m.opens, m.clicks, m.unsubscribes, m.rsvps, m.httpRequests, m.httpTime,
	)
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		// A collector's error leaves its metric out; the rest is served.
		ErrorHandling: promhttp.ContinueOnError,
	})
	return m
}

// Registry is the process's registry (for tests and for adding a
// collector); nil for a nil *Metrics.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// Sent counts a message the relay accepted; d is its SMTP transaction
// time, observed in kizuna_send_duration_seconds.
func (m *Metrics) Sent(d time.Duration) {
	if m == nil {
		return
	}
	m.sent.Inc()
	m.sendTime.Observe(d.Seconds())
}

// SendTime records the SMTP transaction time d of a message the relay
// answered without accepting it (the histogram covers every answer).
func (m *Metrics) SendTime(d time.Duration) {
	if m == nil {
		return
	}
	m.sendTime.Observe(d.Seconds())
}

// Failed counts a delivery that failed for good (a hard bounce counts
// in Bounced instead).
func (m *Metrics) Failed() {
	if m != nil {
		m.failed.Inc()
	}
}

// Retried counts a temporary failure scheduled for another attempt.
func (m *Metrics) Retried() {
	if m != nil {
		m.retried.Inc()
	}
}

// Bounced counts a hard bounce at send time.
func (m *Metrics) Bounced() {
	if m != nil {
		m.bounced.Inc()
	}
}

// Open counts an open of classification class (human, apple_mpp, proxy,
// scanner, unknown; anything else counts as unknown, so that the label
// set stays bounded).
func (m *Metrics) Open(class string) {
	if m != nil {
		m.opens.WithLabelValues(eventClass(class)).Inc()
	}
}

// Click counts a click of classification class (as Open).
func (m *Metrics) Click(class string) {
	if m != nil {
		m.clicks.WithLabelValues(eventClass(class)).Inc()
	}
}

// Unsubscribed counts one recorded unsubscribe.
func (m *Metrics) Unsubscribed() {
	if m != nil {
		m.unsubscribes.Inc()
	}
}

// RSVP counts one recorded change of answer to answer (yes, no, maybe;
// anything else counts as "other", so that the label set stays bounded).
func (m *Metrics) RSVP(answer string) {
	if m == nil {
		return
	}
	switch answer {
	case "yes", "no", "maybe":
	default:
		answer = "other"
	}
	m.rsvps.WithLabelValues(answer).Inc()
}

// Request counts one HTTP answer: route is the ServeMux pattern that
// served it (never the raw path, which would make the label set
// unbounded), code its status, d the time it took.
func (m *Metrics) Request(route string, code int, d time.Duration) {
	if m == nil {
		return
	}
	m.httpRequests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.httpTime.WithLabelValues(route).Observe(d.Seconds())
}

// eventClass keeps the class label to the classifications of
// delivery_events (migrations) so a bad caller cannot grow the label set.
func eventClass(class string) string {
	switch class {
	case "human", "apple_mpp", "proxy", "scanner", "unknown":
		return class
	}
	return "unknown"
}

// WatchQueue exposes kizuna_queue_depth, read at each scrape by depth
// (e.g. runs.QueueDepth against the process's database) within
// QueueDepthTimeout. When depth fails the sample is left out of that
// scrape (absent, not a false zero) and the error is logged on log.
// Calling it again on the same Metrics does nothing.
func (m *Metrics) WatchQueue(depth func(context.Context) (int64, error), log *slog.Logger) {
	if m == nil || depth == nil {
		return
	}
	if log == nil {
		log = slog.Default()
	}
	// A second registration of the same descriptor is refused by the
	// registry: that is the "does nothing".
	_ = m.reg.Register(&queueCollector{depth: depth, log: log})
}

var queueDesc = prometheus.NewDesc(QueueDepth,
	"Deliveries due and not yet sent (pending or being sent) in runs that may send, from Postgres.", nil, nil)

// queueCollector reads the queue depth at scrape time.
type queueCollector struct {
	depth func(context.Context) (int64, error)
	log   *slog.Logger
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- queueDesc }

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), QueueDepthTimeout)
	defer cancel()
	n, err := c.depth(ctx)
	if err != nil {
		c.log.Warn("metrics: cannot read the queue depth", "err", err)
		return
	}
	ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(n))
}

// Handler serves the registry in the Prometheus text (or negotiated)
// exposition format; a nil *Metrics answers 404.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return m.handler
}

// ServeHTTP serves Handler, so a *Metrics can stand where an http.Handler
// is expected (the web server's Options.Metrics) and still be found by
// the server's own instrumentation.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.Handler().ServeHTTP(w, r)
}
