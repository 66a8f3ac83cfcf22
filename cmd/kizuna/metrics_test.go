package main

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/kizuna-alumni/kizuna/internal/metrics"
	"github.com/kizuna-alumni/kizuna/internal/smtptest"
)

var metricsListenLine = regexp.MustCompile(`serving /metrics and /healthz.* addr=(\S+)`)

// metricsAddr waits for the command to log the address of its metrics
// listener.
func metricsAddr(t *testing.T, logs interface{ String() string }) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if m := metricsListenLine.FindStringSubmatch(logs.String()); m != nil {
			return m[1]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no metrics listener logged:\n%s", logs.String())
	return ""
}

// metricsGet fetches url: status and body.
func metricsGet(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// metricsWaitSent scrapes base/metrics until kizuna_messages_sent_total
// reaches want (or 30 s pass) and returns it; the exposition must parse
// and carry the queue depth and the Go collectors.
func metricsWaitSent(t *testing.T, base string, want float64) float64 {
	t.Helper()
	var sent float64
	deadline := time.Now().Add(30 * time.Second)
	for sent < want && time.Now().Before(deadline) {
		code, body := metricsGet(t, base+"/metrics")
		if code != 200 {
			t.Fatalf("/metrics: %d %s", code, body)
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(strings.NewReader(body))
		if err != nil {
			t.Fatalf("/metrics does not parse: %v", err)
		}
		for _, name := range []string{metrics.QueueDepth, "go_goroutines"} {
			if _, ok := fams[name]; !ok {
				t.Fatalf("%s not exposed", name)
			}
		}
		sent = fams[metrics.MessagesSent].GetMetric()[0].GetCounter().GetValue()
		if sent < want {
			time.Sleep(50 * time.Millisecond)
		}
	}
	return sent
}

// kizuna worker with KIZUNA_METRICS_LISTEN serves /metrics (whose
// counters move as it sends) and /healthz there. Not parallel: App.redis
// sets go-redis's process-wide logger, which races another App doing the
// same at once.
func TestWorkerServesMetricsOnMetricsListen(t *testing.T) {
	_, env := startEnv(t)
	relay := smtptest.Start(t)
	env["KIZUNA_SMTP_URL"] = relay.URL()
	env["KIZUNA_METRICS_LISTEN"] = "127.0.0.1:0"
	done, cancel, errOut := startApp(t, env, "worker")
	// stop ends the worker and waits for it: at the end, or on a failure
	// before startApp's cleanup closes its connections under it.
	stop := sync.OnceValue(func() int {
		cancel()
		select {
		case code := <-done:
			return code
		case <-time.After(30 * time.Second):
			t.Error("the worker did not stop within 30 s")
			return -1
		}
	})
	t.Cleanup(func() { stop() })
	base := "http://" + metricsAddr(t, errOut)

	if code, body := metricsGet(t, base+"/healthz"); code != 200 || !strings.Contains(body, `"status":"ok"`) {
		t.Errorf("/healthz: %d %s", code, body)
	}
	file := campaignFolder(t, map[string]string{"news": ""}) + "/news.yaml"
	if code, _, e := runApp(t, env, "campaign", "start", file, "--yes"); code != 0 {
		t.Fatalf("campaign start: exit %d: %s", code, e)
	}
	if !relay.WaitFor(2, 60*time.Second) {
		t.Fatalf("the relay got %d messages, want 2\n%s", relay.Accepted(), errOut.String())
	}
	if sent := metricsWaitSent(t, base, 2); sent != 2 {
		t.Errorf("%s = %v after 2 messages, want 2", metrics.MessagesSent, sent)
	}
	if code := stop(); code != 0 {
		t.Errorf("worker exit %d\n%s", code, errOut.String())
	}
}

// A KIZUNA_METRICS_LISTEN that cannot be listened on stops the worker
// with an error naming it (not parallel, as above).
func TestWorkerRefusesABadMetricsListen(t *testing.T) {
	_, env := startEnv(t)
	env["KIZUNA_METRICS_LISTEN"] = "127.0.0.1:notaport"
	done, cancel, errOut := startApp(t, env, "worker")
	select {
	case code := <-done:
		if code != 1 || !strings.Contains(errOut.String(), "KIZUNA_METRICS_LISTEN") {
			t.Errorf("exit %d, %q; want 1 naming KIZUNA_METRICS_LISTEN", code, errOut.String())
		}
	case <-time.After(30 * time.Second):
		cancel()
		<-done // before startApp's cleanup closes its connections under it
		t.Fatal("the worker kept running with a KIZUNA_METRICS_LISTEN it cannot listen on")
	}
}

var webListenLine = regexp.MustCompile(`web server listening.* addr=(\S+)`)

// kizuna run serves one registry for all its parts on KIZUNA_LISTEN: the
// web server's /metrics shows what its worker sent (not parallel, as
// above).
func TestRunServesItsWorkersMetricsOnListen(t *testing.T) {
	_, env := startEnv(t)
	relay := smtptest.Start(t)
	env["KIZUNA_SMTP_URL"] = relay.URL()
	// Far enough ahead that a slow start (a loaded CI machine) still sees it
	// before it is due: RFC 3339 drops the fraction of a second.
	at := time.Now().Add(4 * time.Second).Format(time.RFC3339)
	env["KIZUNA_CAMPAIGNS"] = campaignFolder(t, map[string]string{"soon": "schedule:\n  at: " + at})
	done, cancel, errOut := startApp(t, env, "run")
	stop := sync.OnceValue(func() int {
		cancel()
		select {
		case code := <-done:
			return code
		case <-time.After(30 * time.Second):
			t.Error("kizuna run did not stop within 30 s")
			return -1
		}
	})
	t.Cleanup(func() { stop() })
	var base string
	for deadline := time.Now().Add(15 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := webListenLine.FindStringSubmatch(errOut.String()); m != nil {
			base = "http://" + m[1]
		}
	}
	if base == "" {
		t.Fatalf("no web server logged:\n%s", errOut.String())
	}
	if !relay.WaitFor(2, 60*time.Second) {
		t.Fatalf("the relay got %d messages, want 2\n%s", relay.Accepted(), errOut.String())
	}
	if sent := metricsWaitSent(t, base, 2); sent != 2 {
		t.Errorf("%s on KIZUNA_LISTEN = %v after 2 messages, want 2", metrics.MessagesSent, sent)
	}
	if code := stop(); code != 0 {
		t.Errorf("run exit %d\n%s", code, errOut.String())
	}
}

// kizuna scheduler serves /metrics and /healthz on KIZUNA_METRICS_LISTEN
// too (not parallel, as above).
func TestSchedulerServesMetricsOnMetricsListen(t *testing.T) {
	_, env := startEnv(t)
	env["KIZUNA_CAMPAIGNS"] = campaignFolder(t, map[string]string{"later": "schedule:\n  at: " + time.Now().Add(time.Hour).Format(time.RFC3339)})
	env["KIZUNA_METRICS_LISTEN"] = "127.0.0.1:0"
	done, cancel, errOut := startApp(t, env, "scheduler")
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cancel()
			<-done
		}
	})
	base := "http://" + metricsAddr(t, errOut)
	if code, body := metricsGet(t, base+"/healthz"); code != 200 || !strings.Contains(body, `"redis":"ok"`) {
		t.Errorf("/healthz: %d %s", code, body)
	}
	code, body := metricsGet(t, base+"/metrics")
	p := expfmt.NewTextParser(model.UTF8Validation)
	if fams, err := p.TextToMetricFamilies(strings.NewReader(body)); code != 200 || err != nil || fams[metrics.QueueDepth] == nil {
		t.Errorf("/metrics: %d, parse error %v, or no %s:\n%s", code, err, metrics.QueueDepth, body)
	}
	cancel()
	stopped = true
	if code := <-done; code != 0 {
		t.Errorf("scheduler exit %d\n%s", code, errOut.String())
	}
}
