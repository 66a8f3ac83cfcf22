package runs

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/tasks"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
)

// fixture is a database with n alumni and one expanded run of a newsletter.
type fixture struct {
	db  *testdb.DB
	run Run
	ids []int64
}

func newFixture(t *testing.T, n int) *fixture {
	t.Helper()
	db := testdb.New(t)
	ctx := context.Background()
	testdb.AlumniSeries(t, db, testdb.AlumniOpts{N: n, Like: testdb.Alumnus{FamilyName: "山田", GivenName: "太郎", Consent: true}})
	c := &campaigns.Campaign{ID: "news", Kind: campaigns.KindNewsletter, Digest: "x",
		Audience: campaigns.Audience{Locales: []string{"ja", "en"}, Consent: "required"}}
	v, err := RegisterVersion(ctx, db.DB, c)
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := Create(ctx, db.DB, v, "manual:test", KindSend)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Expand(ctx, db.DB, r.ID); err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: db, run: r}
	if err := db.Select(&f.ids, `SELECT id FROM deliveries WHERE run_id = $1 ORDER BY id`, r.ID); err != nil {
		t.Fatal(err)
	}
	return f
}

// chunkOf returns the chunk delivery id was handed out in.
func (f *fixture) chunkOf(t *testing.T, id int64) int64 {
	t.Helper()
	var c int64
	if err := f.db.Get(&c, `SELECT chunk_id FROM deliveries WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	return c
}

// chunks returns the fixture's deliveries by chunk, in id order.
func (f *fixture) chunks(t *testing.T) (order []int64, ids map[int64][]int64) {
	t.Helper()
	var rows []struct {
		ID    int64 `db:"id"`
		Chunk int64 `db:"chunk_id"`
	}
	if err := f.db.Select(&rows, `SELECT id, chunk_id FROM deliveries WHERE run_id = $1 ORDER BY id`, f.run.ID); err != nil {
		t.Fatal(err)
	}
	ids = map[int64][]int64{}
	for _, r := range rows {
		if _, ok := ids[r.Chunk]; !ok {
			order = append(order, r.Chunk)
		}
		ids[r.Chunk] = append(ids[r.Chunk], r.ID)
	}
	return order, ids
}

func claimedIDs(c ChunkClaim) []int64 {
	var got []int64
	for _, d := range c.Deliveries {
		got = append(got, d.ID)
	}
	return got
}

func TestExpansionHandsOutChunksOfAtMostChunkSize(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 2*tasks.ChunkSize+50)
	order, ids := f.chunks(t)
	var sizes []int
	for _, c := range order {
		sizes = append(sizes, len(ids[c]))
	}
	if want := fmt.Sprint([]int{tasks.ChunkSize, tasks.ChunkSize, 50}); fmt.Sprint(sizes) != want {
		t.Fatalf("chunk sizes %v, want %s", sizes, want)
	}
}

func TestConcurrentClaimersOfAChunkOneGetsIt(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 400)
	ctx := context.Background()
	order, ids := f.chunks(t)
	for _, chunk := range order {
		var mu sync.Mutex
		var holders int
		var got []int64
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := Claim(ctx, f.db, f.run.ID, chunk, ids[chunk], time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if c.Held {
					holders++
					got = claimedIDs(c)
					for _, d := range c.Deliveries {
						if d.Attempts != 1 || d.Chunk != chunk {
							t.Errorf("claimed %+v: want attempts 1 (this one) in chunk %d", d, chunk)
						}
					}
				} else if len(c.Deliveries) != 0 {
					t.Errorf("a claimer without the lease got %d deliveries", len(c.Deliveries))
				}
			}()
		}
		wg.Wait()
		if holders != 1 || fmt.Sprint(got) != fmt.Sprint(ids[chunk]) {
			t.Fatalf("chunk %d: %d claimers hold it, claiming %d of its %d deliveries; want one with all", chunk, holders, len(got), len(ids[chunk]))
		}
	}
	// The claim wrote nothing to the deliveries: one row per chunk.
	var states []string
	f.db.Select(&states, `SELECT DISTINCT state || '/' || attempts FROM deliveries WHERE run_id = $1`, f.run.ID)
	if fmt.Sprint(states) != "[pending/0]" {
		t.Fatalf("deliveries after claims = %v, want all pending/0", states)
	}
	var leases int
	f.db.Get(&leases, `SELECT count(*) FROM send_leases WHERE lease_until > now()`)
	if leases != len(order) {
		t.Fatalf("%d live leases, want one per chunk (%d)", leases, len(order))
	}
}

func TestClaimSkipsPausedNotYetDueAndHandedOutAgain(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 6)
	ctx := context.Background()
	chunk := f.chunkOf(t, f.ids[0])
	f.db.MustExec(`UPDATE deliveries SET queued_until = now() + interval '1 minute' WHERE run_id = $1`, f.run.ID)
	f.db.MustExec(`UPDATE deliveries SET not_before = now() + interval '1 hour' WHERE id = $1`, f.ids[0])
	// Handed out again in another chunk: no longer this chunk's.
	f.db.MustExec(`UPDATE deliveries SET chunk_id = nextval('delivery_chunks_seq') WHERE id = $1`, f.ids[1])
	f.db.MustExec(`UPDATE deliveries SET state = 'sent' WHERE id = $1`, f.ids[3])
	c, err := Claim(ctx, f.db, f.run.ID, chunk, f.ids, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{f.ids[2], f.ids[4], f.ids[5]}
	if !c.Held || fmt.Sprint(claimedIDs(c)) != fmt.Sprint(want) {
		t.Fatalf("claimed %v (held %v), want %v (the pending, due ones still in the chunk)", claimedIDs(c), c.Held, want)
	}
	// Ending the chunk hands back what the claim did not get, and frees it.
	if err := EndChunk(ctx, f.db, c.Lease, []int64{f.ids[0], f.ids[1], f.ids[3]}); err != nil {
		t.Fatal(err)
	}
	var unqueued []int64
	f.db.Select(&unqueued, `SELECT id FROM deliveries WHERE run_id = $1 AND queued_until IS NULL ORDER BY id`, f.run.ID)
	if fmt.Sprint(unqueued) != fmt.Sprint([]int64{f.ids[0]}) {
		t.Fatalf("handed back %v, want only %d (the not-yet-due one of this chunk)", unqueued, f.ids[0])
	}
	// A paused run gives nothing out.
	if err := Pause(ctx, f.db.DB, f.run.ID, "test"); err != nil {
		t.Fatal(err)
	}
	if c, _ := Claim(ctx, f.db, f.run.ID, chunk, f.ids, time.Minute); !c.Held || len(c.Deliveries) != 0 {
		t.Fatalf("claim of a paused run: held %v, %d deliveries; want the lease and nothing", c.Held, len(c.Deliveries))
	}
}

func TestClaimTakesOnlyTheTasksRun(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 5)
	c, err := Claim(context.Background(), f.db, f.run.ID+1000, f.chunkOf(t, f.ids[0]), f.ids, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Deliveries) != 0 {
		t.Fatalf("a task of another run claimed %d deliveries of run %d", len(c.Deliveries), f.run.ID)
	}
}

func TestExpiredLeaseIsTakenOverAndTheOldHolderLosesIt(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 3)
	ctx := context.Background()
	chunk := f.chunkOf(t, f.ids[0])
	first, err := Claim(ctx, f.db, f.run.ID, chunk, f.ids, time.Minute)
	if err != nil || !first.Held {
		t.Fatalf("first claim: %+v, %v", first, err)
	}
	if c, err := Claim(ctx, f.db, f.run.ID, chunk, f.ids, time.Minute); err != nil || c.Held || len(c.Deliveries) != 0 {
		t.Fatalf("claim of a live-leased chunk: held %v, %d deliveries, %v; want nothing", c.Held, len(c.Deliveries), err)
	}
	// The first holder extends its lease while it is live.
	ext, held, err := ExtendLease(ctx, f.db, first.Lease, time.Minute)
	if err != nil || !held || ext.Until.Before(first.Until) {
		t.Fatalf("extend a live lease: %+v, %v, %v", ext, held, err)
	}
	// Its worker stalls past the lease: another execution takes it over.
	f.db.MustExec(`UPDATE send_leases SET lease_until = now() - interval '1 second' WHERE chunk_id = $1`, chunk)
	second, err := Claim(ctx, f.db, f.run.ID, chunk, f.ids, time.Minute)
	if err != nil || !second.Held || len(second.Deliveries) != 3 {
		t.Fatalf("claim of an expired lease: held %v, %d deliveries, %v; want all 3", second.Held, len(second.Deliveries), err)
	}
	if _, held, err := ExtendLease(ctx, f.db, ext, time.Minute); err != nil || held {
		t.Fatalf("the old holder extended a lease taken over (held %v, %v)", held, err)
	}
	if err := EndChunk(ctx, f.db, ext, nil); err != nil {
		t.Fatal(err)
	}
	var live int
	f.db.Get(&live, `SELECT count(*) FROM send_leases WHERE chunk_id = $1 AND lease_until > now()`, chunk)
	if live != 1 {
		t.Fatal("the old holder ended the new holder's lease")
	}
	if err := EndChunk(ctx, f.db, second.Lease, nil); err != nil {
		t.Fatal(err)
	}
	f.db.Get(&live, `SELECT count(*) FROM send_leases WHERE chunk_id = $1`, chunk)
	if live != 0 {
		t.Fatal("the holder's EndChunk left its lease")
	}
}

// While a chunk is leased, nothing hands its deliveries out again: not
// the sweep after a Redis loss, not the stale sweep, not Unqueue, not
// PickDue; once the lease is over they go out in a new chunk, and the old
// chunk's task finds nothing.
func TestLiveLeasedChunkIsNeverHandedOutAgain(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 4)
	ctx := context.Background()
	chunk := f.chunkOf(t, f.ids[0])
	f.db.MustExec(`UPDATE deliveries SET queued_until = now() - interval '1 second' WHERE run_id = $1`, f.run.ID)
	c, err := Claim(ctx, f.db, f.run.ID, chunk, f.ids, time.Minute)
	if err != nil || len(c.Deliveries) != 4 {
		t.Fatalf("claim: %+v, %v", c, err)
	}
	for _, all := range []bool{true, false} {
		if n, err := ForgetTasks(ctx, f.db, all); err != nil || n != 0 {
			t.Fatalf("ForgetTasks(all=%v) marked %d deliveries of a live-leased chunk (%v)", all, n, err)
		}
	}
	if err := Unqueue(ctx, f.db, f.ids); err != nil {
		t.Fatal(err)
	}
	var unqueued int
	f.db.Get(&unqueued, `SELECT count(*) FROM deliveries WHERE run_id = $1 AND queued_until IS NULL`, f.run.ID)
	if unqueued != 0 {
		t.Fatalf("Unqueue handed back %d deliveries of a live-leased chunk", unqueued)
	}
	// Even marked as carried by no task (as a sweep that raced the claim
	// would), PickDue leaves them in their chunk.
	f.db.MustExec(`UPDATE deliveries SET queued_until = NULL WHERE run_id = $1`, f.run.ID)
	if due, err := PickDue(ctx, f.db, 100, time.Minute); err != nil || len(due) != 0 {
		t.Fatalf("PickDue handed out %d deliveries of a live-leased chunk (%v)", len(due), err)
	}
	if err := EndExpiredLeases(ctx, f.db); err != nil {
		t.Fatal(err)
	}
	if n := f.chunkOf(t, f.ids[0]); n != chunk {
		t.Fatalf("delivery moved to chunk %d while chunk %d is leased", n, chunk)
	}

	// The worker dies: its lease expires, and the deliveries go out again.
	f.db.MustExec(`UPDATE send_leases SET lease_until = now() - interval '1 second' WHERE chunk_id = $1`, chunk)
	f.db.MustExec(`UPDATE deliveries SET queued_until = now() + interval '1 minute' WHERE run_id = $1`, f.run.ID)
	if err := EndExpiredLeases(ctx, f.db); err != nil {
		t.Fatal(err)
	}
	due, err := PickDue(ctx, f.db, 100, time.Minute)
	if err != nil || len(due) != 4 {
		t.Fatalf("PickDue after the lease expired: %d deliveries, %v; want 4", len(due), err)
	}
	if due[0].Chunk == chunk || due[0].Chunk != due[3].Chunk {
		t.Fatalf("handed out in chunks %+v, want one new chunk", due)
	}
	if old, err := Claim(ctx, f.db, f.run.ID, chunk, f.ids, time.Minute); err != nil || len(old.Deliveries) != 0 {
		t.Fatalf("the old chunk's task claimed %d deliveries handed out again (%v)", len(old.Deliveries), err)
	}
	if c, err := Claim(ctx, f.db, f.run.ID, due[0].Chunk, f.ids, time.Minute); err != nil || len(c.Deliveries) != 4 {
		t.Fatalf("the new chunk's task claimed %d deliveries, want 4 (%v)", len(c.Deliveries), err)
	}
}

// A claim and a re-hand-out of the same chunk racing: never may both the
// claim get a delivery and PickDue move it.
func TestClaimRacingPickDueNeverBothGetADelivery(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1)
	ctx := context.Background()
	id := f.ids[0]
	for i := 0; i < 60; i++ {
		chunk := f.chunkOf(t, id)
		// Redis was flushed: the sweep marked the delivery as carried by
		// no task, while its chunk's task is being claimed.
		f.db.MustExec(`UPDATE deliveries SET queued_until = NULL WHERE id = $1`, id)
		var wg sync.WaitGroup
		var c ChunkClaim
		var due []Due
		var cerr, perr error
		wg.Add(2)
		go func() { defer wg.Done(); c, cerr = Claim(ctx, f.db, f.run.ID, chunk, []int64{id}, time.Minute) }()
		go func() { defer wg.Done(); due, perr = PickDue(ctx, f.db, 10, time.Minute) }()
		wg.Wait()
		if cerr != nil || perr != nil {
			t.Fatal(cerr, perr)
		}
		if len(c.Deliveries) == 1 && len(due) == 1 {
			t.Fatalf("round %d: the claim of chunk %d got the delivery and PickDue moved it to chunk %d", i, chunk, due[0].Chunk)
		}
		if len(c.Deliveries) == 0 && len(due) == 0 {
			t.Fatalf("round %d: neither the claim nor PickDue got the delivery", i)
		}
		// Free it for the next round, as a worker finishing would.
		f.db.MustExec(`DELETE FROM send_leases`)
	}
}

// A run just expanded has no statistics yet; the claim must still find its
// chunk through the primary key, not by scanning the run's whole backlog in
// the partial index of open deliveries.
func TestClaimPlanUsesThePrimaryKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 20000)
	var plan []string
	if err := f.db.Select(&plan, `EXPLAIN `+qClaim, pq.Int64Array(f.ids[10000:10100]), f.chunkOf(t, f.ids[10000]), f.run.ID); err != nil {
		t.Fatal(err)
	}
	text := strings.Join(plan, "\n")
	if strings.Contains(text, "deliveries_open_idx") || strings.Contains(text, "deliveries_run_alumni_notice_key") ||
		!strings.Contains(text, "deliveries_pkey") {
		t.Fatalf("claim plan does not go through the primary key:\n%s", text)
	}
}

// A holder whose lease ran out mid-chunk must learn it lost the chunk once
// PickDue moved the chunk's deliveries to a new chunk. qPickDue's revoked
// CTE takes the old chunk's row with an upsert that leaves lease_until as
// it was, and lease_until is the holder's token (qExtendLease): when the
// lease expired after the reconciler's EndExpiredLeases and before its
// PickDue, the row survives with the holder's token, the holder's
// ExtendLease succeeds, and it goes on sending deliveries that the new
// chunk's task is sending too.
//
// Interleaving (one reconciler pass, two workers):
//  1. Redis is flushed while worker A has dequeued the task of chunk C:
//     ForgetTasks(all) clears queued_until of C's deliveries (no lease yet).
//  2. A claims C: lease until T, gets every delivery; it sends slowly.
//  3. The reconciler runs EndExpiredLeases just before T (nothing expired).
//  4. T passes; the same pass's PickDue finds C's row expired, "revokes" it
//     without changing lease_until, and moves the deliveries to chunk C2.
//  5. A reaches its Lease/3 check: ExtendLease(C, T) matches the unchanged
//     row and returns held=true; A sends the rest of its claimed list.
//  6. Worker B claims C2 and gets the same deliveries: each is sent twice.
func TestPickDueRevokingAnExpiredLeaseEndsTheHoldersToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 3)
	ctx := context.Background()
	chunk := f.chunkOf(t, f.ids[0])
	// 1. The sweep after a Redis loss, before A's claim.
	if _, err := ForgetTasks(ctx, f.db, true); err != nil {
		t.Fatal(err)
	}
	// 2. A claims the chunk with a short lease.
	a, err := Claim(ctx, f.db, f.run.ID, chunk, f.ids, 300*time.Millisecond)
	if err != nil || !a.Held || len(a.Deliveries) != 3 {
		t.Fatalf("A's claim: held %v, %d deliveries, %v", a.Held, len(a.Deliveries), err)
	}
	// 3. The reconciler ends expired leases while A's is still live.
	if err := EndExpiredLeases(ctx, f.db); err != nil {
		t.Fatal(err)
	}
	// 4. A's lease runs out; the same pass's PickDue hands the deliveries out again.
	time.Sleep(400 * time.Millisecond)
	due, err := PickDue(ctx, f.db, 100, time.Minute)
	if err != nil || len(due) != 3 {
		t.Fatalf("PickDue after A's lease expired: %d deliveries, %v; want 3", len(due), err)
	}
	// 5. A, still sending, extends its lease with its token.
	_, held, err := ExtendLease(ctx, f.db, a.Lease, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// 6. B claims the new chunk.
	b, err := Claim(ctx, f.db, f.run.ID, due[0].Chunk, f.ids, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if held && len(b.Deliveries) > 0 {
		t.Fatalf("A still holds chunk %d (ExtendLease held=true after PickDue moved its deliveries to chunk %d) "+
			"and B claimed %v there: both send them", chunk, due[0].Chunk, claimedIDs(b))
	}
}

// scanClaimed reads qClaim's columns by position; sqlx maps them by name.
// Both must give the same deliveries, field by field, for rows with and
// without the optional values (dates, a notice, a forgotten address, a
// suppressed one).
func TestScanClaimedEqualsSqlx(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 4)
	ctx := context.Background()
	f.db.MustExec(`UPDATE alumni SET department = '開発部', joined_on = '2012-04-01', left_on = '2019-03-31',
		locale = 'en', timezone = 'Europe/London', mail_kinds = 'newsletter' WHERE id = (SELECT alumni_id FROM deliveries WHERE id = $1)`, f.ids[0])
	f.db.MustExec(`UPDATE alumni SET email = NULL, status = 'forgotten' WHERE id = (SELECT alumni_id FROM deliveries WHERE id = $1)`, f.ids[1])
	f.db.MustExec(`INSERT INTO suppressions (email_hash, reason) SELECT sha256(convert_to(email, 'UTF8')), 'unsubscribed'
		FROM alumni WHERE id = (SELECT alumni_id FROM deliveries WHERE id = $1)`, f.ids[2])
	f.db.MustExec(`UPDATE deliveries SET attempts = 2 WHERE id = $1`, f.ids[3])
	chunk := f.chunkOf(t, f.ids[0])
	var want []Claimed
	if err := f.db.Select(&want, qClaim, pq.Int64Array(f.ids), chunk, f.run.ID); err != nil {
		t.Fatal(err)
	}
	rows, err := f.db.QueryContext(ctx, qClaim, pq.Int64Array(f.ids), chunk, f.run.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []Claimed
	if err := scanClaimed(rows, &got); err != nil {
		t.Fatal(err)
	}
	if len(want) != 4 {
		t.Fatalf("the claim read %d deliveries, want 4", len(want))
	}
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Fatalf("scanned by position:\n%+v\nby name:\n%+v", got, want)
	}
}
