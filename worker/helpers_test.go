package worker_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/smtptest"
	"github.com/kizuna-alumni/kizuna/internal/tasks"
	"github.com/kizuna-alumni/kizuna/internal/testbin"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
	"github.com/kizuna-alumni/kizuna/worker"
)

const testSecret = "0123456789abcdef0123456789abcdef-worker-test"

// newsletter is a small but complete campaign in both locales.
func newsletter(id string) *campaigns.Campaign {
	return &campaigns.Campaign{
		ID:   id,
		Kind: campaigns.KindNewsletter,
		Company: campaigns.Company{Name: "Example株式会社", Address: "東京都渋谷区神南1-2-3",
			Contact: "alumni@example.co.jp / 03-1234-5678", URL: "https://example.co.jp"},
		From:     "Example株式会社 人事部 <alumni@example.co.jp>",
		ReplyTo:  "alumni@example.co.jp",
		Subject:  map[string]string{"ja": "{{.FamilyName}}様 アルムナイ通信", "en": "Alumni news for {{.GivenName}}"},
		Audience: campaigns.Audience{Locales: []string{"ja", "en"}, Consent: "required"},
		Tracking: campaigns.Tracking{Opens: true, Clicks: true},
		Template: campaigns.Template{Theme: "default", Body: map[string]campaigns.Body{
			"ja": {Intros: []string{"ご無沙汰しております。{{.Department}}の皆様はお元気でしょうか。"},
				Dictionary: []campaigns.Entry{{Key: "会社の近況", Value: "新オフィスに移転しました"}},
				Actions:    []campaigns.Action{{Instructions: "募集中の職種はこちら。", ButtonText: "求人を見る", ButtonLink: "https://example.co.jp/careers"}},
				Outros:     []string{"ご質問はこのメールにご返信ください。"}},
			"en": {Intros: []string{"It has been a while."}, Outros: []string{"Just reply to this email."}},
		}},
		Digest: "digest-" + id,
	}
}

// seedAlumni adds n consenting alumni r0..r(n-1)@example.jp, every fifth
// one (r0, r5, …) with locale en, and returns their ids in that order.
func seedAlumni(t testing.TB, db *testdb.DB, n int) []int64 {
	t.Helper()
	return testdb.AlumniSeries(t, db, testdb.AlumniOpts{N: n, Email: "r%d@example.jp",
		Like: testdb.Alumnus{FamilyName: "山田", GivenName: "太郎", Department: "開発部", Consent: true},
		Each: func(i int, a *testdb.Alumnus) {
			if i%5 == 0 {
				a.Locale = "en"
			}
		}})
}

// startRun registers c, creates a run and expands it, enqueueing its
// deliveries on the Redis at redisURL.
func startRun(t testing.TB, db *testdb.DB, redisURL string, c *campaigns.Campaign) runs.Run {
	t.Helper()
	ctx := context.Background()
	v, err := runs.RegisterVersion(ctx, db.DB, c)
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := runs.Create(ctx, db.DB, v, "manual:"+time.Now().Format(time.RFC3339Nano), runs.KindSend)
	if err != nil {
		t.Fatal(err)
	}
	opt, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(opt)
	defer client.Close()
	if _, err := runs.ExpandEach(ctx, db.DB, r.ID, runs.EnqueueTasks(tasks.NewEnqueuer(client))); err != nil {
		t.Fatal(err)
	}
	return r
}

// inProcess runs a worker in this process until the returned stop is
// called (also at cleanup).
func inProcess(t testing.TB, db *testdb.DB, redisURL, smtpURL string, tweak func(*worker.Options)) (stop func()) {
	t.Helper()
	opt, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := opt.MakeRedisClient().(redis.UniversalClient)
	t.Cleanup(func() { rdb.Close() })
	deps, err := worker.NewDeps(worker.Setup{SMTPURL: smtpURL, BaseURL: "https://alumni.example.co.jp", Secret: []byte(testSecret),
		RetryBase: 200 * time.Millisecond, Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	o := worker.Options{DB: db.DB, Redis: rdb, Deps: deps, Concurrency: 4, Lease: 5 * time.Second,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), ReconcileEvery: 300 * time.Millisecond}
	if testing.Verbose() {
		o.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if tweak != nil {
		tweak(&o)
	}
	w, err := worker.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("worker: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitRun waits until no delivery of run is pending or being sent.
func waitRun(t testing.TB, db *testdb.DB, run int64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var open int
		if err := db.Get(&open, `SELECT count(*) FROM deliveries WHERE run_id = $1 AND state IN ('pending', 'sending')`, run); err != nil {
			t.Fatal(err)
		}
		if open == 0 {
			return
		}
		if time.Now().After(deadline) {
			var states []string
			db.Select(&states, `SELECT state || ' ' || count(*) FROM deliveries WHERE run_id = $1 GROUP BY state`, run)
			t.Fatalf("run %d not finished after %s: %v", run, timeout, states)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// perRecipient counts accepted messages by recipient.
func perRecipient(srv *smtptest.Server) map[string]int {
	out := map[string]int{}
	for _, m := range srv.Messages() {
		for _, to := range m.To {
			out[to]++
		}
	}
	return out
}

// checkEveryoneOnce asserts that each of the n seeded alumni got the
// message at least once and returns the duplicate count.
func checkEveryone(t testing.TB, srv *smtptest.Server, n int) (dups int) {
	t.Helper()
	got := perRecipient(srv)
	for i := 0; i < n; i++ {
		to := fmt.Sprintf("r%d@example.jp", i)
		if got[to] == 0 {
			t.Errorf("%s got no message", to)
		}
		if got[to] > 1 {
			dups += got[to] - 1
		}
	}
	if len(got) != n {
		t.Errorf("messages went to %d distinct recipients, want %d", len(got), n)
	}
	return dups
}

func TestMain(m *testing.M) {
	os.Exit(testbin.Main(m))
}
