package runs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/store"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
)

func newsletter(id string) *campaigns.Campaign {
	return &campaigns.Campaign{
		ID: id, Kind: campaigns.KindNewsletter, From: "HR <hr@example.co.jp>",
		Subject:  map[string]string{"ja": "{{.FamilyName}}様", "en": "Hello {{.GivenName}}"},
		Audience: campaigns.Audience{Locales: []string{"ja", "en"}, Consent: "required"},
		Template: campaigns.Template{Theme: "default", Body: map[string]campaigns.Body{"ja": {Intros: []string{"こんにちは"}}, "en": {Intros: []string{"Hi"}}}},
		Digest:   "d-" + id,
	}
}

// addAlumni inserts n consenting active alumni a0..a(n-1)@example.jp
// (given names 太郎0, 太郎1, …) and returns their ids in that order.
func addAlumni(t *testing.T, db *testdb.DB, n int) []int64 {
	t.Helper()
	return testdb.AlumniSeries(t, db, testdb.AlumniOpts{N: n, Like: testdb.Alumnus{FamilyName: "山田", Consent: true},
		Each: func(i int, a *testdb.Alumnus) { a.GivenName = "太郎" + strconv.Itoa(i) }})
}

func TestRegisterVersionReusesUnchangedDigest(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	ctx := context.Background()
	c := newsletter("news")
	v1, err := runs.RegisterVersion(ctx, db.DB, c)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := runs.RegisterVersion(ctx, db.DB, c)
	if err != nil {
		t.Fatal(err)
	}
	if v1 != v2 {
		t.Fatalf("unchanged campaign got a new version: %d then %d", v1, v2)
	}
	c2 := newsletter("news")
	c2.Digest = "changed"
	c2.Subject["ja"] = "変更"
	v3, err := runs.RegisterVersion(ctx, db.DB, c2)
	if err != nil {
		t.Fatal(err)
	}
	if v3 == v1 {
		t.Fatal("changed campaign reused the old version")
	}
	got, err := runs.LoadVersion(ctx, db.DB, v1)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject["ja"] != "{{.FamilyName}}様" {
		t.Fatalf("version 1 subject = %q, want the original", got.Subject["ja"])
	}
	if _, err := runs.LoadVersion(ctx, db.DB, 99999); err == nil || !strings.Contains(err.Error(), store.ErrNotFound.Error()) {
		t.Fatalf("unknown version: err = %v", err)
	}
}

func TestCreateIsUniquePerOccurrenceUnderConcurrency(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	ctx := context.Background()
	v, err := runs.RegisterVersion(ctx, db.DB, newsletter("news"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := map[string]int{}
	ids := map[string]map[int64]bool{}
	for i := 0; i < 16; i++ {
		occ := fmt.Sprintf("at:2026-12-0%dT01:00:00Z", i%4+1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, ok, err := runs.Create(ctx, db.DB, v, occ, runs.KindSend)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if ok {
				created[occ]++
			}
			if ids[occ] == nil {
				ids[occ] = map[int64]bool{}
			}
			ids[occ][r.ID] = true
		}()
	}
	wg.Wait()
	for occ, n := range created {
		if n != 1 || len(ids[occ]) != 1 {
			t.Errorf("occurrence %s: created %d times, %d distinct runs", occ, n, len(ids[occ]))
		}
	}
	list, err := runs.ListRuns(ctx, db.DB, "news")
	if err != nil {
		t.Fatal(err)
	}
	var nums []int
	for _, r := range list {
		nums = append(nums, r.Number)
	}
	sort.Ints(nums)
	if fmt.Sprint(nums) != "[1 2 3 4]" {
		t.Fatalf("run numbers = %v, want [1 2 3 4]", nums)
	}
}

func TestExpandAppliesConsentSuppressionAndIsIdempotent(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	ctx := context.Background()
	addAlumni(t, db, 50)
	mustExec(t, db, `UPDATE alumni SET consent = false WHERE email = 'a1@example.jp'`)
	mustExec(t, db, `UPDATE alumni SET status = 'unsubscribed' WHERE email = 'a2@example.jp'`)
	mustExec(t, db, `INSERT INTO suppressions (email_hash, reason) VALUES ($1, 'bounced')`, store.HashEmail("A3@Example.jp"))
	v, _ := runs.RegisterVersion(ctx, db.DB, newsletter("news"))
	r, _, err := runs.Create(ctx, db.DB, v, "manual:1", runs.KindSend)
	if err != nil {
		t.Fatal(err)
	}
	var enqueued []int64
	n, err := runs.ExpandEach(ctx, db.DB, r.ID, func(_ context.Context, run runs.Run, _ int64, ids []int64) error {
		if run.ID != r.ID {
			t.Errorf("enqueue for run %d, want %d", run.ID, r.ID)
		}
		enqueued = append(enqueued, ids...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 47 || len(enqueued) != 47 {
		t.Fatalf("expanded %d, enqueued %d; want 47 (50 minus no consent, unsubscribed, suppressed)", n, len(enqueued))
	}
	for _, e := range []string{"a1@example.jp", "a2@example.jp", "a3@example.jp"} {
		var c int
		db.Get(&c, `SELECT count(*) FROM deliveries d JOIN alumni a ON a.id = d.alumni_id WHERE a.email = $1`, e)
		if c != 0 {
			t.Errorf("%s got a delivery", e)
		}
	}
	n2, err := runs.Expand(ctx, db.DB, r.ID)
	if err != nil || n2 != 47 {
		t.Fatalf("second expand: %d, %v; want 47 and no new rows", n2, err)
	}
	got, _ := runs.Get(ctx, db.DB, r.ID)
	if got.State != runs.StateSending || got.ExpandedAt == nil {
		t.Fatalf("run after expansion: state %s expanded_at %v", got.State, got.ExpandedAt)
	}
	st, err := runs.Status(ctx, db.DB, "news")
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 1 || st[0].Run != 1 || st[0].Total != 47 || st[0].Pending != 47 || st[0].State != "sending" {
		t.Fatalf("status = %+v", st)
	}
	b, _ := json.Marshal(st[0])
	for _, key := range []string{"run", "kind", "started_at", "state", "total", "pending", "sent", "failed", "suppressed", "opened", "clicked", "unsubscribed", "replied", "bounced", "rsvp_yes", "rsvp_no", "rsvp_maybe", "waitlisted"} {
		if !strings.Contains(string(b), `"`+key+`":`) {
			t.Errorf("status JSON lacks %q: %s", key, b)
		}
	}
}

func TestExpandResumesAnInterruptedExpansion(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	ctx := context.Background()
	alumni := addAlumni(t, db, 30)
	v, _ := runs.RegisterVersion(ctx, db.DB, newsletter("news"))
	r, _, _ := runs.Create(ctx, db.DB, v, "manual:1", runs.KindSend)
	// A crashed expander wrote the first ten deliveries and stopped.
	testdb.Deliveries(t, db, testdb.DeliveriesOpts{Run: r.ID, Alumni: alumni[:10], QueuedUntil: time.Now().Add(time.Hour)})
	n, ran, err := runs.TryExpand(ctx, db.DB, r.ID, nil)
	if err != nil || !ran || n != 30 {
		t.Fatalf("TryExpand = %d, %v, %v; want 30, true, nil", n, ran, err)
	}
	var queued int
	db.Get(&queued, `SELECT count(*) FROM deliveries WHERE run_id = $1 AND queued_until IS NOT NULL`, r.ID)
	if queued != 0 {
		t.Fatalf("%d deliveries of the crashed expander still look queued; the reconciler must enqueue them", queued)
	}
}

func TestReminderGoesToYesAnswersOnly(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	ctx := context.Background()
	addAlumni(t, db, 10)
	c := newsletter("party")
	c.Kind = campaigns.KindEvent
	c.Event = &campaigns.Event{Title: "会", StartsAt: time.Now().Add(72 * time.Hour)}
	v, _ := runs.RegisterVersion(ctx, db.DB, c)
	mustExec(t, db, `INSERT INTO rsvps (campaign_id, alumni_id, answer) SELECT 'party', id, CASE WHEN id % 2 = 0 THEN 'yes' ELSE 'no' END FROM alumni`)
	mustExec(t, db, `UPDATE alumni SET consent = false`) // reminders go to those who answered, consent or not
	r, _, _ := runs.Create(ctx, db.DB, v, "reminder:72h:2026-12-15T10:00:00Z", runs.KindReminder)
	n, err := runs.Expand(ctx, db.DB, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Fatalf("reminder reached %d, want the 5 yes answers", n)
	}
}

func TestPauseResumeCancel(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	ctx := context.Background()
	addAlumni(t, db, 5)
	v, _ := runs.RegisterVersion(ctx, db.DB, newsletter("news"))
	r, _, _ := runs.Create(ctx, db.DB, v, "manual:1", runs.KindSend)
	runs.ExpandEach(ctx, db.DB, r.ID, func(context.Context, runs.Run, int64, []int64) error { return nil })
	if err := runs.Pause(ctx, db.DB, r.ID, "relay rejected the sender"); err != nil {
		t.Fatal(err)
	}
	if err := runs.Pause(ctx, db.DB, r.ID, "again"); err == nil {
		t.Fatal("pausing a paused run succeeded")
	}
	got, _ := runs.Get(ctx, db.DB, r.ID)
	if got.State != runs.StatePaused || got.PauseReason != "relay rejected the sender" {
		t.Fatalf("after pause: %+v", got)
	}
	if err := runs.Resume(ctx, db.DB, r.ID); err != nil {
		t.Fatal(err)
	}
	var queued int
	db.Get(&queued, `SELECT count(*) FROM deliveries WHERE run_id = $1 AND queued_until IS NOT NULL`, r.ID)
	if queued != 0 {
		t.Fatalf("resume left %d deliveries waiting for a lost task", queued)
	}
	if err := runs.Cancel(ctx, db.DB, r.ID); err != nil {
		t.Fatal(err)
	}
	var cancelled int
	db.Get(&cancelled, `SELECT count(*) FROM deliveries WHERE run_id = $1 AND state = 'cancelled'`, r.ID)
	got, _ = runs.Get(ctx, db.DB, r.ID)
	if cancelled != 5 || got.State != runs.StateCancelled || got.FinishedAt == nil {
		t.Fatalf("after cancel: %d cancelled deliveries, run %+v", cancelled, got)
	}
	if err := runs.Resume(ctx, db.DB, r.ID); err == nil {
		t.Fatal("resuming a cancelled run succeeded")
	}
}

func mustExec(t *testing.T, db *testdb.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}
