package scheduler

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/testbin"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
)

// clock is a settable time source shared by the schedulers of a test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// fixture is a campaigns folder, a database and a clock.
type fixture struct {
	t     testing.TB
	db    *testdb.DB
	dir   string
	clock *clock
	logs  *testbin.Buffer
	// set is the content the loader returns, by campaign id.
	mu  sync.Mutex
	set map[string]*campaigns.Campaign
}

func newFixture(t testing.TB, now time.Time) *fixture {
	t.Helper()
	return &fixture{t: t, db: testdb.New(t), dir: t.TempDir(), clock: &clock{t: now}, logs: &testbin.Buffer{}, set: map[string]*campaigns.Campaign{}}
}

// scheduler builds a scheduler over the fixture; several may share it.
func (f *fixture) scheduler() *Scheduler {
	f.t.Helper()
	s, err := New(Options{
		Dir:   f.dir,
		DB:    f.db.DB,
		Log:   slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Load:  f.load,
		Start: RunStarter(f.db.DB, nil),
		Now:   f.clock.Now,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

func (f *fixture) load(string) ([]*campaigns.Campaign, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*campaigns.Campaign
	for _, c := range f.set {
		out = append(out, c)
	}
	return out, nil
}

// put changes a campaign (and touches its file so that the folder changes).
func (f *fixture) put(c *campaigns.Campaign) {
	f.t.Helper()
	f.mu.Lock()
	f.set[c.ID] = c
	f.mu.Unlock()
	if err := os.WriteFile(filepath.Join(f.dir, c.ID+".yaml"), []byte("id: "+c.ID+"\n# "+c.Digest+"\n"), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

type runRow struct {
	Occurrence string `db:"occurrence"`
	Kind       string `db:"kind"`
	Number     int    `db:"number"`
	Digest     string `db:"digest"`
}

func (f *fixture) runs(id string) []runRow {
	f.t.Helper()
	var out []runRow
	err := f.db.Select(&out, `SELECT r.occurrence, r.kind, r.number, v.digest FROM runs r JOIN campaign_versions v ON v.id = r.version_id
		WHERE r.campaign_id = $1 ORDER BY r.number`, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

func at(t time.Time) *time.Time { return &t }

func TestOneOffAtIsStartedOnceWhenDue(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	f := newFixture(t, t0)
	ctx := context.Background()
	testdb.Alumni(t, f.db, testdb.Alumnus{Email: "a@example.jp", FamilyName: "山田", Consent: true}, testdb.Alumnus{Email: "b@example.jp", FamilyName: "佐藤"})
	f.put(&campaigns.Campaign{ID: "news", Kind: campaigns.KindNewsletter, Digest: "v1", Schedule: campaigns.Schedule{At: at(t0.Add(time.Hour))},
		Audience: campaigns.Audience{Locales: []string{"ja", "en"}, Consent: "required"}})
	s := f.scheduler()
	if _, err := s.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	s.Tick(ctx)
	if r := f.runs("news"); len(r) != 0 {
		t.Fatalf("before at: runs %v", r)
	}
	f.clock.Set(t0.Add(time.Hour + 3*time.Second))
	s.Tick(ctx)
	s.Tick(ctx)
	r := f.runs("news")
	if len(r) != 1 || r[0].Occurrence != "at:2026-12-01T01:00:00Z" || r[0].Kind != "send" {
		t.Fatalf("after at: runs %+v, want one send run for the at", r)
	}
	// The run was expanded: one delivery, for the alumnus who consented.
	var deliveries int
	var state string
	f.db.Get(&deliveries, `SELECT count(*) FROM deliveries d JOIN runs r ON r.id = d.run_id WHERE r.campaign_id = 'news'`)
	f.db.Get(&state, `SELECT state FROM runs WHERE campaign_id = 'news'`)
	if deliveries != 1 || state != "sending" {
		t.Errorf("expansion: %d deliveries, run %s; want 1 and sending", deliveries, state)
	}
	// A restarted scheduler within max_late finds the run and starts nothing.
	s2 := f.scheduler()
	s2.Reload(ctx)
	s2.Tick(ctx)
	if r := f.runs("news"); len(r) != 1 {
		t.Fatalf("after a restart: %d runs, want 1", len(r))
	}
}

func TestOneOffAlreadyPastWhenFirstSeenIsReportedNotSent(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	f := newFixture(t, t0)
	ctx := context.Background()
	// Past by one minute (within max_late) and by two days: neither is sent.
	f.put(&campaigns.Campaign{ID: "late", Kind: campaigns.KindNewsletter, Digest: "v1", Schedule: campaigns.Schedule{At: at(t0.Add(-time.Minute))}})
	f.put(&campaigns.Campaign{ID: "old", Kind: campaigns.KindNewsletter, Digest: "v1", Schedule: campaigns.Schedule{At: at(t0.AddDate(0, 0, -2))}})
	s := f.scheduler()
	s.Reload(ctx)
	s.Tick(ctx)
	f.clock.Add(10 * time.Second)
	s.Tick(ctx)
	for _, id := range []string{"late", "old"} {
		if r := f.runs(id); len(r) != 0 {
			t.Errorf("%s: runs %+v, want none", id, r)
		}
	}
	logs := f.logs.String()
	if n := strings.Count(logs, "campaign start"); n != 2 {
		t.Errorf("want one warning per past campaign naming `campaign start`, got %d in:\n%s", n, logs)
	}
	if !strings.Contains(logs, "level=WARN") {
		t.Errorf("the report should be a warning:\n%s", logs)
	}
}

func TestOneOffSeenBeforeButMissedBeyondMaxLateIsSkipped(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	ctx := context.Background()
	for _, c := range []struct {
		name     string
		downFor  time.Duration
		wantRuns int
	}{
		{"restart within max_late sends", 40 * time.Minute, 1},
		{"restart beyond max_late skips", 2 * time.Hour, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, t0)
			f.put(&campaigns.Campaign{ID: "news", Kind: campaigns.KindNewsletter, Digest: "v1",
				Schedule: campaigns.Schedule{At: at(t0.Add(10 * time.Minute)), MaxLate: time.Hour}})
			s := f.scheduler()
			s.Reload(ctx) // seen before it is due, then the scheduler stops
			f.clock.Set(t0.Add(10*time.Minute + c.downFor))
			s2 := f.scheduler()
			s2.Reload(ctx)
			s2.Tick(ctx)
			if r := f.runs("news"); len(r) != c.wantRuns {
				t.Errorf("runs %+v, want %d", r, c.wantRuns)
			}
		})
	}
}

func TestCronMissedOccurrencesAreSkippedAndLogged(t *testing.T) {
	t.Parallel()
	// Every day at 09:00 Tokyo = 00:00 UTC.
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).Add(-time.Minute)
	f := newFixture(t, t0)
	ctx := context.Background()
	f.put(&campaigns.Campaign{ID: "daily", Kind: campaigns.KindNewsletter, Digest: "v1",
		Schedule: campaigns.Schedule{Cron: "0 9 * * *", MaxLate: 30 * time.Minute}})
	s := f.scheduler()
	s.Reload(ctx)
	s.Tick(ctx)
	f.clock.Add(2 * time.Minute) // 00:01Z: the 1st is due
	s.Tick(ctx)
	// The scheduler stalls for three days (a suspended machine): the 2nd and
	// 3rd are missed; the 4th is 10 minutes late, within max_late.
	f.clock.Set(time.Date(2026, 12, 4, 0, 10, 0, 0, time.UTC))
	s.Tick(ctx)
	var got []string
	for _, r := range f.runs("daily") {
		got = append(got, r.Occurrence)
	}
	want := "cron:2026-12-01T00:00:00Z cron:2026-12-04T00:00:00Z"
	if strings.Join(got, " ") != want {
		t.Errorf("runs %v, want %v", got, want)
	}
	logs := f.logs.String()
	for _, k := range []string{"cron:2026-12-02T00:00:00Z", "cron:2026-12-03T00:00:00Z"} {
		if !strings.Contains(logs, "missed by more than max_late") || !strings.Contains(logs, k) {
			t.Errorf("missed occurrence %s not logged:\n%s", k, logs)
		}
	}
	// Recorded for `campaign list` and `status`, as missed by a running scheduler.
	skipped, err := ListSkipped(ctx, f.db.DB, "daily")
	if err != nil {
		t.Fatal(err)
	}
	var rec []string
	for _, s := range skipped {
		rec = append(rec, s.Occurrence+" "+s.Reason)
	}
	if want := "cron:2026-12-03T00:00:00Z late,cron:2026-12-02T00:00:00Z late"; strings.Join(rec, ",") != want {
		t.Errorf("recorded %v, want %s", rec, want)
	}
}

func TestCronAcrossDaylightSavingStartsOneRunPerDay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, c := range []struct {
		name, spec string
		from, to   time.Time
		want       string
	}{
		// 02:30 does not exist on 2026-03-08 in New York: sent at 03:00 EDT.
		{"gap", "30 2 * * *", time.Date(2026, 3, 8, 5, 0, 0, 0, time.UTC), time.Date(2026, 3, 8, 9, 0, 0, 0, time.UTC), "cron:2026-03-08T07:00:00Z"},
		// 01:30 happens twice on 2026-11-01: sent at the first.
		{"repeat", "30 1 * * *", time.Date(2026, 11, 1, 4, 0, 0, 0, time.UTC), time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC), "cron:2026-11-01T05:30:00Z"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, c.from)
			f.put(&campaigns.Campaign{ID: "nightly", Kind: campaigns.KindNewsletter, Digest: "v1",
				Schedule: campaigns.Schedule{Cron: c.spec, Timezone: "America/New_York", MaxLate: 10 * time.Minute}})
			s := f.scheduler()
			s.Reload(ctx)
			for now := c.from; !now.After(c.to); now = now.Add(5 * time.Minute) {
				f.clock.Set(now)
				s.Tick(ctx)
			}
			var got []string
			for _, r := range f.runs("nightly") {
				got = append(got, r.Occurrence)
			}
			if strings.Join(got, " ") != c.want {
				t.Errorf("runs %v, want exactly %s", got, c.want)
			}
			if strings.Contains(f.logs.String(), "skipped") {
				t.Errorf("nothing should be skipped:\n%s", f.logs.String())
			}
		})
	}
}

func TestTwoSchedulersStartOneRunPerOccurrence(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	f := newFixture(t, t0)
	ctx := context.Background()
	f.put(&campaigns.Campaign{ID: "every5", Kind: campaigns.KindNewsletter, Digest: "v1", Schedule: campaigns.Schedule{Cron: "*/5 * * * *"}})
	f.put(&campaigns.Campaign{ID: "once", Kind: campaigns.KindNewsletter, Digest: "v1", Schedule: campaigns.Schedule{At: at(t0.Add(7 * time.Minute))}})
	a, b := f.scheduler(), f.scheduler()
	a.Reload(ctx)
	b.Reload(ctx)
	for i := 0; i < 12; i++ { // an hour in five-minute steps, both ticking at once
		f.clock.Add(5 * time.Minute)
		var wg sync.WaitGroup
		for _, s := range []*Scheduler{a, b} {
			wg.Add(1)
			go func() { defer wg.Done(); s.Tick(ctx) }()
		}
		wg.Wait()
	}
	if r := f.runs("every5"); len(r) != 13 { // 00:00 (seen as it fell due) to 01:00
		t.Errorf("every5: %d runs, want 13 (one per occurrence)", len(r))
	}
	if r := f.runs("once"); len(r) != 1 {
		t.Errorf("once: %d runs, want 1", len(r))
	}
	var dup int
	f.db.Get(&dup, `SELECT count(*) FROM (SELECT campaign_id, occurrence FROM runs GROUP BY 1, 2 HAVING count(*) > 1) d`)
	if dup != 0 {
		t.Errorf("%d occurrences have more than one run", dup)
	}
}

func TestRemindersAreScheduledBeforeTheEvent(t *testing.T) {
	t.Parallel()
	starts := time.Date(2026, 12, 18, 10, 0, 0, 0, time.UTC)
	t0 := starts.Add(-100 * time.Hour)
	f := newFixture(t, t0)
	ctx := context.Background()
	f.put(&campaigns.Campaign{ID: "party", Kind: campaigns.KindEvent, Digest: "v1",
		Event: &campaigns.Event{StartsAt: starts, Reminders: []time.Duration{72 * time.Hour, 3 * time.Hour}}})
	s := f.scheduler()
	s.Reload(ctx)
	check := func(when time.Time, want ...string) {
		t.Helper()
		f.clock.Set(when)
		s.Tick(ctx)
		var got []string
		for _, r := range f.runs("party") {
			got = append(got, r.Kind+" "+r.Occurrence)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("at %v: runs %v, want %v", when, got, want)
		}
	}
	check(starts.Add(-72*time.Hour - time.Second))
	check(starts.Add(-72*time.Hour), "reminder reminder:72h:2026-12-15T10:00:00Z")
	check(starts.Add(-3*time.Hour-time.Minute), "reminder reminder:72h:2026-12-15T10:00:00Z")
	check(starts.Add(-3*time.Hour+time.Minute), "reminder reminder:72h:2026-12-15T10:00:00Z", "reminder reminder:3h:2026-12-18T07:00:00Z")
}

func TestEditAfterStartKeepsTheRunsVersion(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	f := newFixture(t, t0)
	ctx := context.Background()
	f.put(&campaigns.Campaign{ID: "news", Kind: campaigns.KindNewsletter, Digest: "v1", Schedule: campaigns.Schedule{At: at(t0.Add(time.Minute))}})
	s := f.scheduler()
	s.Reload(ctx)
	f.clock.Add(time.Minute)
	s.Tick(ctx)
	f.put(&campaigns.Campaign{ID: "news", Kind: campaigns.KindNewsletter, Digest: "v2", Schedule: campaigns.Schedule{At: at(t0.Add(time.Minute))}})
	if changed, _ := s.Reload(ctx); !changed {
		t.Fatal("the edit was not noticed")
	}
	f.clock.Add(5 * time.Second)
	s.Tick(ctx)
	r := f.runs("news")
	if len(r) != 1 || r[0].Digest != "v1" {
		t.Errorf("runs %+v, want the one run still on version v1", r)
	}
}

func TestReloadPicksUpNewChangedAndRemovedCampaigns(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	f := newFixture(t, t0)
	ctx := context.Background()
	s := f.scheduler()
	if changed, err := s.Reload(ctx); err != nil || !changed {
		t.Fatalf("first load: %v %v", changed, err)
	}
	if changed, _ := s.Reload(ctx); changed {
		t.Error("an unchanged folder was reloaded")
	}
	// New.
	f.put(&campaigns.Campaign{ID: "a", Kind: campaigns.KindNewsletter, Digest: "v1", Schedule: campaigns.Schedule{At: at(t0.Add(time.Hour))}})
	if changed, _ := s.Reload(ctx); !changed || strings.Join(s.Campaigns(), ",") != "a" {
		t.Fatalf("new campaign: changed=%v campaigns=%v", changed, s.Campaigns())
	}
	// Changed: moved earlier, to a time still in the future, and sent then.
	f.put(&campaigns.Campaign{ID: "a", Kind: campaigns.KindNewsletter, Digest: "v2", Schedule: campaigns.Schedule{At: at(t0.Add(10 * time.Minute))}})
	s.Reload(ctx)
	f.clock.Set(t0.Add(10 * time.Minute))
	s.Tick(ctx)
	if r := f.runs("a"); len(r) != 1 || r[0].Digest != "v2" || r[0].Occurrence != "at:2026-12-01T00:10:00Z" {
		t.Fatalf("changed campaign: runs %+v", r)
	}
	// Removed: a due occurrence of a removed campaign is not started.
	f.put(&campaigns.Campaign{ID: "b", Kind: campaigns.KindNewsletter, Digest: "v1", Schedule: campaigns.Schedule{At: at(t0.Add(20 * time.Minute))}})
	s.Reload(ctx)
	f.mu.Lock()
	delete(f.set, "b")
	f.mu.Unlock()
	os.Remove(filepath.Join(f.dir, "b.yaml"))
	if changed, _ := s.Reload(ctx); !changed || strings.Join(s.Campaigns(), ",") != "a" {
		t.Fatalf("removed campaign: changed=%v campaigns=%v", changed, s.Campaigns())
	}
	f.clock.Set(t0.Add(20 * time.Minute))
	s.Tick(ctx)
	if r := f.runs("b"); len(r) != 0 {
		t.Errorf("removed campaign started: %+v", r)
	}
}

func TestRunStopsWithItsContext(t *testing.T) {
	t.Parallel()
	f := newFixture(t, time.Now())
	s := f.scheduler()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil on cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop when its context ended")
	}
	if _, err := New(Options{DB: f.db.DB, Load: f.load, Start: RunStarter(f.db.DB, nil)}); err == nil {
		t.Error("a scheduler without a folder should be refused")
	}
	bad, _ := New(Options{Dir: filepath.Join(f.dir, "missing"), DB: f.db.DB, Load: f.load, Start: RunStarter(f.db.DB, nil)})
	if err := bad.Run(context.Background()); err == nil {
		t.Error("Run over a missing folder should fail at start")
	}
}

func TestInterruptedExpansionCountsAsStarted(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	f := newFixture(t, t0)
	ctx := context.Background()
	testdb.Alumni(t, f.db, testdb.Alumnus{Email: "a@example.jp", FamilyName: "山田", Consent: true})
	f.put(&campaigns.Campaign{ID: "news", Kind: campaigns.KindNewsletter, Digest: "v1", Schedule: campaigns.Schedule{At: at(t0.Add(time.Minute))},
		Audience: campaigns.Audience{Locales: []string{"ja", "en"}, Consent: "required"}})
	calls := 0
	s, err := New(Options{Dir: f.dir, DB: f.db.DB, Now: f.clock.Now, Load: f.load,
		Log: slog.New(slog.NewTextHandler(f.logs, nil)),
		Start: RunStarter(f.db.DB, func(context.Context, runs.Run, int64, []int64) error {
			calls++
			return errors.New("redis: connection refused")
		})})
	if err != nil {
		t.Fatal(err)
	}
	s.Reload(ctx)
	for i := 0; i < 3; i++ {
		f.clock.Set(t0.Add(time.Minute + time.Duration(i)*5*time.Second))
		s.Tick(ctx)
	}
	f.clock.Set(t0.Add(3 * time.Hour)) // long past max_late
	s.Tick(ctx)
	if r := f.runs("news"); len(r) != 1 {
		t.Fatalf("runs %+v, want 1", r)
	}
	if calls != 1 {
		t.Errorf("expansion tried %d times; once the run exists it is the reconciler's", calls)
	}
	var unqueued int
	f.db.Get(&unqueued, `SELECT count(*) FROM deliveries WHERE state = 'pending' AND queued_until IS NULL`)
	if unqueued != 1 {
		t.Errorf("%d deliveries left for the reconciler, want 1", unqueued)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, "expansion was interrupted") || strings.Contains(logs, "missed by more than max_late") {
		t.Errorf("logs should report the interruption, and not a missed occurrence:\n%s", logs)
	}
}

func TestOccurrencesDueWhileNoSchedulerRanAreRecordedOnceAtStart(t *testing.T) {
	t.Parallel()
	// Every day at 09:00 Tokyo = 00:00 UTC.
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).Add(-time.Minute)
	f := newFixture(t, t0)
	ctx := context.Background()
	f.put(&campaigns.Campaign{ID: "daily", Kind: campaigns.KindNewsletter, Digest: "v1",
		Schedule: campaigns.Schedule{Cron: "0 9 * * *", MaxLate: 30 * time.Minute}})
	f.put(&campaigns.Campaign{ID: "once", Kind: campaigns.KindNewsletter, Digest: "v1",
		Schedule: campaigns.Schedule{At: at(time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)), MaxLate: time.Hour}})
	a := f.scheduler()
	a.Reload(ctx)
	a.Tick(ctx)
	f.clock.Add(2 * time.Minute) // 00:01Z: the 1st is due and started
	a.Tick(ctx)
	// a stops. Nothing runs until the 4th at 00:10Z, when two schedulers
	// start at once: the 2nd and 3rd (and the one-off of the 2nd) fell due
	// while none ran; the 4th is 10 minutes late, within max_late.
	f.put(&campaigns.Campaign{ID: "newcomer", Kind: campaigns.KindNewsletter, Digest: "v1",
		Schedule: campaigns.Schedule{At: at(time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC))}})
	f.clock.Set(time.Date(2026, 12, 4, 0, 10, 0, 0, time.UTC))
	b, c := f.scheduler(), f.scheduler()
	var wg sync.WaitGroup
	for _, s := range []*Scheduler{b, c} {
		wg.Add(1)
		go func() { defer wg.Done(); s.Reload(ctx); s.Tick(ctx) }()
	}
	wg.Wait()
	b.Tick(ctx)
	c.Tick(ctx)

	var got []string
	for _, r := range f.runs("daily") {
		got = append(got, r.Occurrence)
	}
	if want := "cron:2026-12-01T00:00:00Z cron:2026-12-04T00:00:00Z"; strings.Join(got, " ") != want {
		t.Errorf("runs %v, want %v", got, want)
	}
	skipped, err := ListSkipped(ctx, f.db.DB, "")
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, s := range skipped {
		rows = append(rows, s.CampaignID+" "+s.Occurrence+" "+s.Kind+" "+s.Reason+" "+s.DueAt.Format(time.RFC3339))
	}
	want := []string{
		"daily cron:2026-12-03T00:00:00Z send no_scheduler 2026-12-03T00:00:00Z",
		"daily cron:2026-12-02T00:00:00Z send no_scheduler 2026-12-02T00:00:00Z",
		"once at:2026-12-02T12:00:00Z send no_scheduler 2026-12-02T12:00:00Z",
	}
	// The newcomer's at was already past when first seen: reported, not "missed".
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Errorf("skipped:\n%s\nwant:\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
	logs := f.logs.String()
	for _, w := range []string{
		`occurrence=cron:2026-12-02T00:00:00Z`, `occurrence=cron:2026-12-03T00:00:00Z`, `occurrence=at:2026-12-02T12:00:00Z`,
	} {
		if n := strings.Count(logs, "due while no scheduler ran"); n != 3 || !strings.Contains(logs, w) {
			t.Errorf("want each missed occurrence logged once (3 lines, %s among them), got %d:\n%s", w, n, logs)
		}
	}
	for _, w := range []string{`send_with="kizuna campaign start daily --again"`, `send_with="kizuna campaign start once"`} {
		if !strings.Contains(logs, w) {
			t.Errorf("logs lack %s:\n%s", w, logs)
		}
	}

	// A later restart finds nothing new to report.
	before := strings.Count(f.logs.String(), "occurrence skipped")
	f.clock.Add(time.Minute)
	d := f.scheduler()
	d.Reload(ctx)
	d.Tick(ctx)
	if after := strings.Count(f.logs.String(), "occurrence skipped"); after != before {
		t.Errorf("a restart reported skipped occurrences again:\n%s", f.logs.String())
	}
}

func TestSendCommand(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		kind    string
		hasRuns bool
		want    string
	}{
		{KindSend, false, "kizuna campaign start news"},
		{KindSend, true, "kizuna campaign start news --again"},
		{KindReminder, true, ""},
	} {
		if got := SendCommand("news", c.kind, c.hasRuns); got != c.want {
			t.Errorf("SendCommand(%s, %v) = %q, want %q", c.kind, c.hasRuns, got, c.want)
		}
	}
}
