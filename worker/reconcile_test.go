package worker_test

import (
	"io"
	"log/slog"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/kizuna-alumni/kizuna/internal/smtptest"
	"github.com/kizuna-alumni/kizuna/internal/tasks"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
	"github.com/kizuna-alumni/kizuna/internal/testredis"
	"github.com/kizuna-alumni/kizuna/worker"
)

// A fresh Redis that holds the tasks of a just-started run has no epoch key
// yet: that is not a loss, and the reconciler must not enqueue the run
// again. After a real flush it must.
func TestReconcilerTellsAFreshRedisFromALostOne(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	rd := testredis.New(t)
	srv := smtptest.Start(t)
	seedAlumni(t, db, 250)
	startRun(t, db, rd.URL, newsletter("news"))
	pendingKey := tasks.QueueKeys()[0]
	queued := rd.Client.LLen(t.Context(), pendingKey).Val()
	if queued == 0 {
		t.Fatal("startRun queued no task")
	}

	opt, err := asynq.ParseRedisURI(rd.URL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := opt.MakeRedisClient().(redis.UniversalClient)
	t.Cleanup(func() { rdb.Close() })
	deps, err := worker.NewDeps(worker.Setup{SMTPURL: srv.URL(), BaseURL: "https://alumni.example.co.jp", Secret: []byte(testSecret), Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	w, err := worker.New(worker.Options{DB: db.DB, Redis: rdb, Deps: deps, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}

	if err := w.Reconcile(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	if got := rd.Client.LLen(t.Context(), pendingKey).Val(); got != queued {
		t.Fatalf("first pass on a fresh Redis: %d tasks queued, want the %d of the run (nothing enqueued again)", got, queued)
	}
	if rd.Client.Exists(t.Context(), tasks.EpochKey).Val() != 1 {
		t.Fatal("epoch key not set")
	}

	rd.Client.FlushDB(t.Context())
	if err := w.Reconcile(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	if got := rd.Client.LLen(t.Context(), pendingKey).Val(); got != queued {
		t.Fatalf("after a flush: %d tasks queued, want all %d enqueued again", got, queued)
	}
}
