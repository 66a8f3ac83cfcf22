package web_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
	"github.com/kizuna-alumni/kizuna/internal/token"
	"github.com/kizuna-alumni/kizuna/internal/web"
)

// BenchmarkAdminPages measures the dashboard's pages against GUIDE.md's
// target (≤ 200 ms p99 each with 100k alumni and a 100k run): 100,000
// alumni, one run of 100,000 sent deliveries, 40,000 opens and 10,000
// clicks, then 50 requests per page (after 5 that warm the caches), one at
// a time; it prints p50 and p99.
func BenchmarkAdminPages(b *testing.B) {
	const n = 100_000
	db := testdb.New(b)
	ctx := b.Context()
	people := testdb.AlumniSeries(b, db, testdb.AlumniOpts{N: n, Like: testdb.Alumnus{FamilyName: "山田", GivenName: "太郎", Consent: true}})
	news := unsubCampaign()
	news.Schedule.Cron = "0 10 1 * *"
	v, err := runs.RegisterVersion(ctx, db.DB, news)
	if err != nil {
		b.Fatal(err)
	}
	run := testdb.Run(b, db, testdb.RunOpts{Campaign: news.ID, Version: v, State: runs.StateDone})
	sentAt := time.Now().Add(-48 * time.Hour)
	dels := testdb.Deliveries(b, db, testdb.DeliveriesOpts{Run: run, Alumni: people, State: "sent", SentAt: sentAt})
	var events []runs.Event
	for i := 0; i < 40_000; i++ {
		events = append(events, runs.Event{DeliveryID: dels[i], Kind: runs.EventOpen, Classification: runs.ClassHuman, At: sentAt.Add(time.Hour)})
		if i < 10_000 {
			events = append(events, runs.Event{DeliveryID: dels[i], Kind: runs.EventClick, Classification: runs.ClassHuman, URL: "https://example.co.jp/", At: sentAt.Add(2 * time.Hour)})
		}
	}
	if err := runs.RecordEvents(ctx, db.DB, events); err != nil {
		b.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	s, err := web.New(web.Options{DB: db.DB, Signer: token.New([]byte(unsubSecret)), AdminToken: adminToken,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	b.Cleanup(srv.Close)
	b.ResetTimer()
	fmt.Printf("\nBenchmarkAdminPages: %d alumni, a run of %d sent, %d events; GOMAXPROCS %d, %s\n",
		n, n, len(events), runtime.GOMAXPROCS(0), runtime.Version())
	fmt.Printf("%-28s %10s %10s   target p99 ≤ 200 ms\n", "page", "p50", "p99")
	for _, path := range []string{"/admin/", "/admin/campaigns/" + news.ID, "/admin/replies"} {
		var took []time.Duration
		for i := range 55 { // the first 5 warm the caches and are not counted
			req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
			req.Header.Set("Authorization", "Bearer "+adminToken)
			began := time.Now()
			resp, err := srv.Client().Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("%s: %d", path, resp.StatusCode)
			}
			if i >= 5 {
				took = append(took, time.Since(began))
			}
		}
		slices.Sort(took)
		fmt.Printf("%-28s %10s %10s\n", path, took[len(took)/2].Round(100*time.Microsecond), took[len(took)*99/100].Round(100*time.Microsecond))
	}
}
