package worker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
)

// fixture is a database with n alumni and one expanded run of a newsletter.
type fixture struct {
	db  *testdb.DB
	run runs.Run
	ids []int64
}

func newFixture(t *testing.T, n int) *fixture {
	t.Helper()
	db := testdb.New(t)
	ctx := context.Background()
	testdb.AlumniSeries(t, db, testdb.AlumniOpts{N: n, Like: testdb.Alumnus{FamilyName: "山田", GivenName: "太郎", Consent: true}})
	c := &campaigns.Campaign{ID: "news", Kind: campaigns.KindNewsletter, Digest: "x",
		Audience: campaigns.Audience{Locales: []string{"ja", "en"}, Consent: "required"}}
	v, err := runs.RegisterVersion(ctx, db.DB, c)
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := runs.Create(ctx, db.DB, v, "manual:test", runs.KindSend)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runs.Expand(ctx, db.DB, r.ID); err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: db, run: r}
	if err := db.Select(&f.ids, `SELECT id FROM deliveries WHERE run_id = $1 ORDER BY id`, r.ID); err != nil {
		t.Fatal(err)
	}
	return f
}

// bareWorker is a worker with only its database parts, for claim and
// record tests.
func bareWorker(f *fixture) *Worker {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := runs.NewSendStatements(f.db.DB)
	return &Worker{opt: Options{Lease: time.Minute, MaxAttempts: 3}, log: log, db: f.db.DB, stmts: st,
		rec: newRecorder(f.db.DB, st, log), stopping: make(chan struct{}), done: newDonePacer(doneCheckEvery)}
}

func TestRecordSentWinsButOtherResultsNeedTheClaim(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 3)
	w := bareWorker(f)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.rec.Loop(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	var chunk int64
	f.db.Get(&chunk, `SELECT chunk_id FROM deliveries WHERE id = $1`, f.ids[0])
	// Deliveries 0 and 1 were handed out again in another chunk after
	// their worker's lease ran out. Delivery 0's worker records "sent" all
	// the same: the relay has it. Delivery 1's late failure must not touch
	// it: it is the new chunk's now. Delivery 2 is still this chunk's.
	f.db.MustExec(`UPDATE deliveries SET chunk_id = nextval('delivery_chunks_seq') WHERE id = ANY($1)`, f.ids[:2])
	acks := make(chan error, 3)
	submit := func(r result) { w.rec.Submit(r, acks) }
	submit(sent(runs.Claimed{ID: f.ids[0], Chunk: chunk}, "m0@example.jp", "250 ok"))
	submit(failed(runs.Claimed{ID: f.ids[1], Chunk: chunk}, "550 no"))
	submit(released(runs.Claimed{ID: f.ids[2], Chunk: chunk}, time.Now().Add(time.Hour)))
	for i := 0; i < 3; i++ {
		if err := <-acks; err != nil {
			t.Fatal(err)
		}
	}
	type row struct {
		State    string `db:"state"`
		Attempts int    `db:"attempts"`
		Later    bool   `db:"later"`
	}
	var rows []row
	f.db.Select(&rows, `SELECT state, attempts, not_before > now() + interval '30 minutes' AS later FROM deliveries WHERE run_id = $1 ORDER BY id`, f.run.ID)
	// The sent message's attempt counts (the claim no longer counts it);
	// the released one was not tried.
	want := []row{{"sent", 1, false}, {"pending", 0, false}, {"pending", 0, true}}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Fatalf("deliveries = %+v, want %+v", rows, want)
	}
}

// A chunk whose lease cannot be extended (Postgres does not answer) is
// sent on only while the lease lasts by the worker's clock; past its
// expiry the chunk may be another worker's, so the rest is given back.
func TestChunkStopsWhenItsLeaseCannotBeExtendedAndHasExpired(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1)
	broken := bareWorker(f)
	db, err := sqlx.Open("postgres", "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	broken.db = db
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, c := range []struct {
		until time.Time
		held  bool
	}{{time.Now().Add(time.Minute), true}, {time.Now().Add(-time.Second), false}} {
		s := &chunk{w: broken, log: log, lease: &chunkLease{Lease: runs.Lease{Chunk: 1, Until: c.until}}}
		if got := s.extendLease(context.Background()); got != c.held || s.lease.lost == c.held {
			t.Errorf("lease until %s, Postgres unreachable: goes on %v (lost %v), want %v", c.until.Format(time.TimeOnly), got, s.lease.lost, c.held)
		}
	}
}
