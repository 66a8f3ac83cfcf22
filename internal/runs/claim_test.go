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

func TestConcurrentClaimersNeverShareADelivery(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 400)
	ctx := context.Background()
	var mu sync.Mutex
	owner := map[int64]int{}
	var wg sync.WaitGroup
	// Eight claimers fight over the same overlapping windows of IDs.
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for start := 0; start < len(f.ids); start += 50 {
				end := min(start+100, len(f.ids))
				cl, err := Claim(ctx, f.db, f.run.ID, f.ids[start:end], time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, c := range cl {
					if prev, dup := owner[c.ID]; dup {
						t.Errorf("delivery %d claimed by claimers %d and %d", c.ID, prev, g)
					}
					owner[c.ID] = g
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(owner) != len(f.ids) {
		t.Fatalf("claimed %d of %d deliveries", len(owner), len(f.ids))
	}
	var attempts []int
	f.db.Select(&attempts, `SELECT DISTINCT attempts FROM deliveries WHERE run_id = $1`, f.run.ID)
	if fmt.Sprint(attempts) != "[1]" {
		t.Fatalf("attempt counts after one claim each = %v, want [1]", attempts)
	}
}

func TestClaimSkipsLeasedPausedAndNotYetDue(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 6)
	ctx := context.Background()
	f.db.MustExec(`UPDATE deliveries SET not_before = now() + interval '1 hour' WHERE id = $1`, f.ids[0])
	f.db.MustExec(`UPDATE deliveries SET state = 'sending', lease_until = now() + interval '1 minute' WHERE id = $1`, f.ids[1])
	f.db.MustExec(`UPDATE deliveries SET state = 'sending', lease_until = now() - interval '1 second' WHERE id = $1`, f.ids[2])
	f.db.MustExec(`UPDATE deliveries SET state = 'sent' WHERE id = $1`, f.ids[3])
	cl, err := Claim(ctx, f.db, f.run.ID, f.ids, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, c := range cl {
		got = append(got, c.ID)
	}
	want := []int64{f.ids[2], f.ids[4], f.ids[5]}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("claimed %v, want %v (expired lease and the two pending ones)", got, want)
	}
	// A paused run gives nothing out.
	f.db.MustExec(`UPDATE deliveries SET state = 'pending', lease_until = NULL WHERE run_id = $1 AND state = 'sending'`, f.run.ID)
	if err := Pause(ctx, f.db.DB, f.run.ID, "test"); err != nil {
		t.Fatal(err)
	}
	if cl, _ := Claim(ctx, f.db, f.run.ID, f.ids, time.Minute); len(cl) != 0 {
		t.Fatalf("claimed %d deliveries of a paused run", len(cl))
	}
}

func TestClaimTakesOnlyTheTasksRun(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 5)
	cl, err := Claim(context.Background(), f.db, f.run.ID+1000, f.ids, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(cl) != 0 {
		t.Fatalf("a task of another run claimed %d deliveries of run %d", len(cl), f.run.ID)
	}
	var sending int
	f.db.Get(&sending, `SELECT count(*) FROM deliveries WHERE run_id = $1 AND state <> 'pending'`, f.run.ID)
	if sending != 0 {
		t.Fatalf("%d deliveries left pending state after a claim by another run's task", sending)
	}
}

// A run just expanded has no statistics yet; the claim must still find its
// chunk through the primary key, not by scanning the run's whole backlog in
// the partial index of open deliveries.
func TestClaimPlanUsesThePrimaryKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 20000)
	var plan []string
	if err := f.db.Select(&plan, `EXPLAIN `+qClaim, pq.Int64Array(f.ids[10000:10100]), 60.0, f.run.ID); err != nil {
		t.Fatal(err)
	}
	text := strings.Join(plan, "\n")
	if strings.Contains(text, "deliveries_open_idx") || strings.Contains(text, "deliveries_run_alumni_notice_key") ||
		!strings.Contains(text, "deliveries_pkey") {
		t.Fatalf("claim plan does not go through the primary key:\n%s", text)
	}
}
