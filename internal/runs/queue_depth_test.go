package runs

import (
	"context"
	"testing"
	"time"
)

// The queue depth counts due, unsent deliveries of runs that may send:
// not those held back, already sent or failed, nor a paused run's.
func TestQueueDepthCountsDueUnsentDeliveries(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 6)
	ctx := context.Background()
	depth := func() int64 {
		t.Helper()
		n, err := QueueDepth(ctx, f.db)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := depth(); n != 6 {
		t.Fatalf("depth of a fresh run of 6 = %d", n)
	}
	f.db.MustExec(`UPDATE deliveries SET not_before = now() + interval '1 hour' WHERE id = $1`, f.ids[0])
	// Being sent: its chunk is leased, the delivery pending.
	if c, err := Claim(ctx, f.db, f.run.ID, f.chunkOf(t, f.ids[1]), f.ids[1:2], time.Minute); err != nil || len(c.Deliveries) != 1 {
		t.Fatalf("claim: %+v, %v", c, err)
	}
	f.db.MustExec(`UPDATE deliveries SET state = 'sent' WHERE id = $1`, f.ids[2])
	f.db.MustExec(`UPDATE deliveries SET state = 'failed' WHERE id = $1`, f.ids[3])
	if n := depth(); n != 3 {
		t.Fatalf("depth = %d, want 3 (two pending and one being sent; not the held, sent or failed)", n)
	}
	if err := Pause(ctx, f.db.DB, f.run.ID, "test"); err != nil {
		t.Fatal(err)
	}
	if n := depth(); n != 0 {
		t.Fatalf("depth with the run paused = %d, want 0", n)
	}
}
