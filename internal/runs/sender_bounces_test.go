package runs_test

import (
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/store"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
)

// TestBouncedCountsHardBouncesOnly: of a hard bounce at the relay, a hard,
// a soft and a sender-side bounce returned later, the run's bounced count
// is the two hard ones, and stays so once the people are erased (forget):
// an erased bounce keeps its type. SenderBounces counts the sender-side
// one with and without the event asked about.
func TestBouncedCountsHardBouncesOnly(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	ctx := t.Context()
	people := addAlumni(t, db, 4)
	v, err := runs.RegisterVersion(ctx, db.DB, newsletter("news"))
	if err != nil {
		t.Fatal(err)
	}
	run, _, err := runs.Create(ctx, db.DB, v, "o1", runs.KindSend)
	if err != nil {
		t.Fatal(err)
	}
	d := testdb.Deliveries(t, db, testdb.DeliveriesOpts{Run: run.ID, Alumni: people, State: "sent"})
	if err := runs.RecordBounces(ctx, db.DB, []int64{d[0]}, []string{"550 5.1.1 no such user"}); err != nil {
		t.Fatal(err)
	}
	var count runs.SenderBounceCount
	err = store.InTx(ctx, db.DB, func(tx *sqlx.Tx) error {
		for i, b := range []map[string]any{
			{"type": runs.BounceHard, "status": "5.1.1"},
			{"type": runs.BounceSoft, "status": "4.2.2"},
			{"type": runs.BounceSender, "sender_side": true, "status": "5.7.26", "pattern": "550 5.7.26 dmarc", "domain": "example.jp"},
		} {
			if _, err := runs.RecordInboundEvent(ctx, tx, d[i+1], runs.EventBounce, int64(i+1), b); err != nil {
				return err
			}
		}
		count, err = runs.SenderBounces(ctx, tx, run.ID, d[3], 3, "550 5.7.26 dmarc")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := (runs.SenderBounceCount{State: run.State, Deliveries: 1, Domains: 1}); count != want {
		t.Errorf("SenderBounces = %+v, want %+v", count, want)
	}
	if !count.Crossed(1, 1) || count.Crossed(2, 1) || count.Crossed(1, 2) {
		t.Errorf("Crossed wrong for %+v", count)
	}
	bounced := func() int64 {
		t.Helper()
		st, err := runs.Status(ctx, db.DB, "news")
		if err != nil || len(st) != 1 {
			t.Fatalf("status %v, %v", st, err)
		}
		return st[0].Bounced
	}
	if b := bounced(); b != 2 {
		t.Errorf("bounced = %d, want 2", b)
	}
	for _, a := range people {
		if err := runs.EraseAlumnus(ctx, db.DB, a, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if b := bounced(); b != 2 {
		t.Errorf("after erasure bounced = %d, want 2", b)
	}
}
