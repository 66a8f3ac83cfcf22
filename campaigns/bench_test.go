package campaigns

import (
	"testing"
	"time"
)

// BenchmarkLoadExamples loads and validates the example folder (kizuna.yaml
// and four campaigns) and compiles each audience: the work `kizuna campaign
// validate` and each scheduler poll do per folder.
func BenchmarkLoadExamples(b *testing.B) {
	start := time.Now()
	var files int
	for i := 0; i < b.N; i++ {
		cs, probs := Load(examplesDir)
		if len(probs) > 0 || len(cs) != 4 {
			b.Fatalf("%d campaigns, problems %v", len(cs), probs)
		}
		for _, c := range cs {
			c.Audience.Compile(1)
		}
		files += len(cs)
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(elapsed.Microseconds())/float64(b.N), "µs/folder")
	b.ReportMetric(float64(files)/elapsed.Seconds(), "campaigns/s")
	b.Logf("campaign files %d per folder, %d folder loads, %.0f µs per folder", 4, b.N, float64(elapsed.Microseconds())/float64(b.N))
}
