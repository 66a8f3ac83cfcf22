package web

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkOpenClickRecording loads a real server and Postgres over
// loopback with a Go load generator: 64 keep-alive connections, opens and
// clicks mixed half and half over 2,000 deliveries, up to 100,000 requests
// or 20 s. It reports requests/s, the latency's p50 and p99, and the
// process's peak RSS (VmHWM: server and load generator together), and
// checks that every answered request's event landed.
func BenchmarkOpenClickRecording(b *testing.B) {
	const (
		deliveries = 2000
		conns      = 64
		maxReqs    = 100_000
		maxTime    = 20 * time.Second
	)
	e := newTrackEnv(b, deliveries, time.Hour)
	urls := make([]string, deliveries)
	for i := range urls {
		if i%2 == 0 {
			urls[i] = e.openURL(i)
		} else {
			urls[i] = e.base + "/c/" + e.clickToken(i, 0, "https://alumni.example.jp/events")
		}
	}
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer tr.CloseIdleConnections()
	for b.Loop() {
		e.db.MustExec(`TRUNCATE delivery_events`)
		var next, ok, bad atomic.Int64
		lat := make([][]time.Duration, conns)
		deadline := time.Now().Add(maxTime)
		start := time.Now()
		var wg sync.WaitGroup
		for c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) {
					n := next.Add(1)
					if n > maxReqs {
						return
					}
					t0 := time.Now()
					resp, err := client.Get(urls[int(n)%deliveries])
					if err != nil {
						bad.Add(1)
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					lat[c] = append(lat[c], time.Since(t0))
					if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusFound {
						ok.Add(1)
					} else {
						bad.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)
		all := slices.Concat(lat...)
		slices.Sort(all)
		var landed int64
		if err := e.db.Get(&landed, `SELECT count(*) FROM delivery_events`); err != nil {
			b.Fatal(err)
		}
		if landed != ok.Load() || bad.Load() != 0 {
			b.Fatalf("%d requests answered, %d failed, %d events recorded", ok.Load(), bad.Load(), landed)
		}
		rate := float64(len(all)) / elapsed.Seconds()
		p50, p99 := all[len(all)/2], all[len(all)*99/100]
		rss := trackVmHWM()
		b.ReportMetric(rate, "req/s")
		b.ReportMetric(float64(p50.Microseconds())/1000, "p50_ms")
		b.ReportMetric(float64(p99.Microseconds())/1000, "p99_ms")
		b.ReportMetric(float64(rss)/(1<<20), "peak_RSS_MiB")
		fmt.Fprintf(os.Stderr, "open/click recording: %d requests in %v over %d connections: %.0f req/s, p50 %v, p99 %v, peak RSS %d MiB; all %d events recorded\n",
			len(all), elapsed.Round(time.Millisecond), conns, rate, p50, p99, rss>>20, landed)
	}
}

// trackVmHWM is the process's peak resident set in bytes (Linux
// /proc/self/status VmHWM; 0 elsewhere).
func trackVmHWM() int64 {
	s, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(s) {
		if f := strings.Fields(string(line)); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
