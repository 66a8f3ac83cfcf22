package runs_test

import (
	"context"
	"errors"
	"testing"

	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
)

func TestStartCreatesExpandsAndEnqueuesOnce(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	ctx := context.Background()
	addAlumni(t, db, 5)
	c := newsletter("start")
	var queued int
	enqueue := func(_ context.Context, _ runs.Run, _ int64, ids []int64) error { queued += len(ids); return nil }
	st, err := runs.Start(ctx, db.DB, c, "manual:1", runs.KindSend, enqueue)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Created || st.Run.Number != 1 || st.Deliveries != 5 || queued != 5 {
		t.Fatalf("first start: %+v, %d queued; want run 1 created with 5 deliveries queued", st, queued)
	}
	again, err := runs.Start(ctx, db.DB, c, "manual:1", runs.KindSend, enqueue)
	if err != nil {
		t.Fatal(err)
	}
	if again.Created || again.Run.ID != st.Run.ID || queued != 5 {
		t.Fatalf("second start of the same occurrence: %+v, %d queued; want the same run, not created, nothing more queued", again, queued)
	}
}

func TestStartReportsAnInterruptedExpansionWithTheRun(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	ctx := context.Background()
	addAlumni(t, db, 3)
	boom := errors.New("queue down")
	st, err := runs.Start(ctx, db.DB, newsletter("broken"), "manual:1", runs.KindSend,
		func(context.Context, runs.Run, int64, []int64) error { return boom })
	var ee *runs.ExpansionError
	if !errors.As(err, &ee) || !errors.Is(err, boom) {
		t.Fatalf("err = %v, want an *ExpansionError wrapping the enqueue error", err)
	}
	if !st.Created || st.Run.Number != 1 {
		t.Fatalf("started = %+v, want run 1, created", st)
	}
}
