package campaigns

import (
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkLoadExamples loads and validates the example folder (kizuna.yaml
// and its campaigns): the work `kizuna campaign validate` and each
// scheduler poll do per folder.
func BenchmarkLoadExamples(b *testing.B) {
	yamls, err := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	want := len(yamls) - 1 // all but kizuna.yaml
	start := time.Now()
	var files int
	for i := 0; i < b.N; i++ {
		cs, probs := Load(examplesDir)
		if len(probs) > 0 || len(cs) != want {
			b.Fatalf("%d campaigns, want %d; problems %v", len(cs), want, probs)
		}
		files += len(cs)
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(elapsed.Microseconds())/float64(b.N), "µs/folder")
	b.ReportMetric(float64(files)/elapsed.Seconds(), "campaigns/s")
	b.Logf("campaign files %d per folder, %d folder loads, %.0f µs per folder", want, b.N, float64(elapsed.Microseconds())/float64(b.N))
}
