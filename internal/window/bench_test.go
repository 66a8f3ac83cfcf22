package window

import (
	"testing"
	"time"
)

// BenchmarkAllowed measures the per-delivery check a worker makes before
// sending: office hours, weekdays, Japanese holidays, Asia/Tokyo.
func BenchmarkAllowed(b *testing.B) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		b.Fatal(err)
	}
	const n = 100000
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, tokyo)
	var inside int
	began := time.Now()
	for b.Loop() {
		inside = 0
		for i := range n {
			if Allowed(office, tokyo, start.Add(time.Duration(i)*6*time.Minute)) {
				inside++
			}
		}
	}
	per := time.Since(began) / time.Duration(n*b.N)
	b.ReportMetric(float64(per.Nanoseconds()), "ns/check")
	b.ReportMetric(0, "ns/op")
	b.Logf("window.Allowed | %d instants over 417 days | %d inside | %v per check", n, inside, per)
}
