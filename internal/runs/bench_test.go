package runs_test

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/tasks"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
	"github.com/kizuna-alumni/kizuna/internal/testredis"
)

// BenchmarkExpandAndEnqueue100k measures audience expansion (one delivery
// row per recipient, set-based, in chunks) plus enqueueing the send tasks
// for 100,000 recipients. Target (GUIDE.md): ≤ 3 s.
func BenchmarkExpandAndEnqueue100k(b *testing.B) {
	const n = 100_000
	for i := 0; i < b.N; i++ {
		db := testdb.New(b)
		rd := testredis.New(b)
		testdb.AlumniSeries(b, db, testdb.AlumniOpts{N: n, From: 1, Like: testdb.Alumnus{FamilyName: "山田", GivenName: "太郎", Consent: true}})
		db.MustExec(`VACUUM ANALYZE alumni`)
		opt, _ := asynq.ParseRedisURI(rd.URL)
		client := asynq.NewClient(opt)
		ctx := context.Background()
		start := time.Now()
		v, err := runs.RegisterVersion(ctx, db.DB, newsletter("bench"))
		if err != nil {
			b.Fatal(err)
		}
		r, _, err := runs.Create(ctx, db.DB, v, "manual:bench", runs.KindSend)
		if err != nil {
			b.Fatal(err)
		}
		got, err := runs.ExpandEach(ctx, db.DB, r.ID, runs.EnqueueTasks(tasks.NewEnqueuer(client)))
		if err != nil {
			b.Fatal(err)
		}
		d := time.Since(start)
		client.Close()
		if got != n {
			b.Fatalf("expanded %d, want %d", got, n)
		}
		b.ReportMetric(d.Seconds(), "s_total")
		b.ReportMetric(float64(n)/d.Seconds(), "recipients/s")
		b.Logf("expansion + enqueue of %d recipients (%d tasks of %d): %.2f s (target ≤ 3 s)", n, (n+tasks.ChunkSize-1)/tasks.ChunkSize, tasks.ChunkSize, d.Seconds())
	}
}
