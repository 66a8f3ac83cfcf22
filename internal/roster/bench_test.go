package roster

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/transform"

	"github.com/kizuna-alumni/kizuna/internal/testdb"
)

// writeBenchRoster writes an n-row CP932 roster with Japanese headers and
// CRLF line ends, as Excel exports it, streaming so that the file's size
// does not show in the benchmark's memory figures.
func writeBenchRoster(tb testing.TB, path string, n int) int64 {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	enc := transform.NewWriter(f, japanese.ShiftJIS.NewEncoder())
	w := bufio.NewWriterSize(enc, 64<<10)
	fmt.Fprint(w, "メールアドレス,姓,名,セイ,メイ,社員番号,部署,入社日,退職日,言語,タイムゾーン,タグ,同意,同意日,同意取得方法\r\n")
	families := []string{"山田", "髙橋", "山﨑", "佐藤", "鈴木", "田中", "伊藤", "渡辺"}
	givens := []string{"太郎", "花子", "健一", "美咲", "翔太", "由美"}
	depts := []string{"開発部", "営業部", "人事部", "総務部", "㈱関連事業部"}
	for i := range n {
		fmt.Fprintf(w, "user%06d@example.jp,%s,%s,ヤマダ,タロウ,E%06d,%s,%d/4/1,%d/3/31,ja,Asia/Tokyo,engineering;boomerang,はい,2025/%d/%d,退職時アンケート①\r\n",
			i, families[i%len(families)], givens[i%len(givens)], i, depts[i%len(depts)],
			1990+i%25, 2016+i%9, 1+i%12, 1+i%28)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		tb.Fatal(err)
	}
	st, _ := f.Stat()
	f.Close()
	return st.Size()
}

// peakHeap samples the live heap until stop is called and returns the peak.
func peakHeap() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var ms runtime.MemStats
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); <-finished; return peak.Load() }
}

// vmHWM is the process's peak resident set size in bytes (Linux).
func vmHWM() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			kb, _ := strconv.ParseFloat(strings.Fields(l)[1], 64)
			return kb * 1024
		}
	}
	return 0
}

// BenchmarkImport100k imports a 100k-row CP932 roster into an empty
// database (first import), then imports it again (every row unchanged).
// Target (GUIDE.md): 100k rows ≤ 3 s on a 2-core machine, memory flat in
// file size.
func BenchmarkImport100k(b *testing.B) {
	const rows = 100_000
	path := filepath.Join(b.TempDir(), "roster-100k.csv")
	size := writeBenchRoster(b, path, rows)
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		db := testdb.New(b)
		s := NewStore(db.DB, nil)
		runtime.GC()
		b.StartTimer()

		for _, pass := range []string{"first", "again"} {
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			stop := peakHeap()
			start := time.Now()
			res, err := s.Import(ctx, f, ImportOptions{FileName: "roster-100k.csv"})
			elapsed := time.Since(start)
			peak := stop()
			f.Close()
			if err != nil {
				b.Fatal(err)
			}
			if len(res.Rejected) != 0 || res.Imported+res.Updated+res.Unchanged != rows {
				b.Fatalf("%s import: %+v rejected %d", pass, res, len(res.Rejected))
			}
			b.Logf("%-5s import: %d rows, %.1f MiB %s file: %.2f s, %.0f rows/s, peak heap %.1f MiB (imported %d, unchanged %d); copy %.2f s, checks %.2f s, upsert %.2f s, commit %.2f s",
				pass, rows, float64(size)/(1<<20), res.Encoding, elapsed.Seconds(), rows/elapsed.Seconds(), float64(peak)/(1<<20), res.Imported, res.Unchanged,
				res.Timing.Copy.Seconds(), res.Timing.Checks.Seconds(), res.Timing.Upsert.Seconds(), res.Timing.Commit.Seconds())
			if pass == "first" {
				b.ReportMetric(elapsed.Seconds(), "s/import")
				b.ReportMetric(rows/elapsed.Seconds(), "rows/s")
				b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			} else {
				b.ReportMetric(elapsed.Seconds(), "s/reimport")
			}
		}
	}
	b.ReportMetric(vmHWM()/(1<<20), "peak-RSS-MiB")
}
