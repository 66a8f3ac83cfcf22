package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/scheduler"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
)

const testSecret = "0123456789abcdef0123456789abcdef-test"

// controlEnv is a fresh database with three alumni, a campaign with one
// expanded run and a scheduled campaign without runs.
func controlEnv(t *testing.T) (*testdb.DB, map[string]string) {
	t.Helper()
	db := testdb.New(t)
	ctx := context.Background()
	testdb.Alumni(t, db, testdb.Alumnus{Email: "a@example.jp", FamilyName: "山田", Consent: true},
		testdb.Alumnus{Email: "b@example.jp", FamilyName: "佐藤", Consent: true}, testdb.Alumnus{Email: "c@example.jp", FamilyName: "鈴木", Consent: true})
	aud := campaigns.Audience{Locales: []string{"ja", "en"}, Consent: "required"}
	sent := &campaigns.Campaign{ID: "sent-news", Kind: campaigns.KindNewsletter, Digest: "d1", Audience: aud}
	vid, err := runs.RegisterVersion(ctx, db.DB, sent)
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := runs.Create(ctx, db.DB, vid, "manual:test", runs.KindSend)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runs.Expand(ctx, db.DB, r.ID); err != nil {
		t.Fatal(err)
	}
	next := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	if _, err := runs.RegisterVersion(ctx, db.DB, &campaigns.Campaign{ID: "later", Kind: campaigns.KindEvent, Digest: "d1", Audience: aud,
		Schedule: campaigns.Schedule{At: &next}, Event: &campaigns.Event{StartsAt: next.Add(240 * time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	return db, map[string]string{"KIZUNA_DATABASE_URL": db.URL, "KIZUNA_SECRET": testSecret}
}

func TestCampaignStatusJSON(t *testing.T) {
	t.Parallel()
	_, env := controlEnv(t)
	code, out, errOut := runApp(t, env, "campaign", "status", "sent-news", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatalf("not one JSON document: %v\n%s", err, out)
	}
	var doc struct {
		ID   string
		Runs []map[string]any
	}
	json.Unmarshal([]byte(out), &doc)
	if doc.ID != "sent-news" || len(doc.Runs) != 1 {
		t.Fatalf("doc = %s", out)
	}
	want := []string{"run", "kind", "started_at", "state", "total", "pending", "sent", "failed", "suppressed", "opened",
		"clicked", "unsubscribed", "replied", "bounced", "rsvp_yes", "rsvp_no", "rsvp_maybe", "waitlisted",
		"hold",                            // "hold" is added to SPEC.md's keys: why a run waits, or null
		"machine_opens", "scanner_clicks"} // added too: opens and clicks not counted as a person's
	var got []string
	for k := range doc.Runs[0] {
		got = append(got, k)
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("run keys %v, want exactly %v", got, want)
	}
	var typed struct {
		Runs []struct {
			Run       int    `json:"run"`
			Kind      string `json:"kind"`
			StartedAt string `json:"started_at"`
			State     string `json:"state"`
			Total     int    `json:"total"`
			Pending   int    `json:"pending"`
		} `json:"runs"`
	}
	json.Unmarshal([]byte(out), &typed)
	r := typed.Runs[0]
	if ts, err := time.Parse(time.RFC3339, r.StartedAt); err != nil || !strings.HasSuffix(r.StartedAt, "Z") || ts.IsZero() {
		t.Errorf("started_at %q is not RFC 3339 UTC", r.StartedAt)
	}
	if r.Run != 1 || r.Kind != "send" || r.State != "sending" || r.Total != 3 || r.Pending != 3 {
		t.Errorf("run = %+v, want run 1, send, sending, 3 total, 3 pending", r)
	}

	// No runs yet: "runs": [].
	code, out, _ = runApp(t, env, "campaign", "status", "later", "--json")
	if code != 0 || !strings.Contains(strings.Join(strings.Fields(out), ""), `"runs":[]`) {
		t.Errorf("campaign without runs: exit %d, %s", code, out)
	}
	// Unknown: exit 2 and still one JSON document.
	code, out, errOut = runApp(t, env, "campaign", "status", "nope", "--json")
	var e map[string]string
	if code != 2 || json.Unmarshal([]byte(out), &e) != nil || !strings.Contains(e["error"], "nope") {
		t.Errorf("unknown id: exit %d, stdout %q, stderr %q; want 2 and {\"error\": ...}", code, out, errOut)
	}
	// The table.
	code, out, _ = runApp(t, env, "campaign", "status", "sent-news")
	if code != 0 || !strings.Contains(out, "PENDING") || !strings.Contains(out, "sending") {
		t.Errorf("table: exit %d\n%s", code, out)
	}
}

func TestCampaignListJSON(t *testing.T) {
	t.Parallel()
	_, env := controlEnv(t)
	code, out, errOut := runApp(t, env, "campaign", "list", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 2 {
		t.Fatalf("list: %v\n%s", err, out)
	}
	for _, e := range list {
		for _, k := range []string{"id", "kind", "next_at", "last_run"} {
			if _, ok := e[k]; !ok {
				t.Errorf("%v lacks key %q", e, k)
			}
		}
	}
	later, sent := list[0], list[1]
	if later["id"] != "later" || later["kind"] != "event" || later["last_run"] != nil {
		t.Errorf("later = %v", later)
	}
	if s, _ := later["next_at"].(string); s == "" {
		t.Errorf("later next_at = %v, want its future at", later["next_at"])
	} else if at, err := time.Parse(time.RFC3339, s); err != nil || at.Before(time.Now().Add(47*time.Hour)) {
		t.Errorf("later next_at = %q", s)
	}
	if sent["id"] != "sent-news" || sent["next_at"] != nil || sent["last_run"] != float64(1) {
		t.Errorf("sent-news = %v, want no next occurrence and last_run 1", sent)
	}
	code, out, _ = runApp(t, env, "campaign", "list")
	if code != 0 || !strings.Contains(out, "later") || !strings.Contains(out, "LAST RUN") {
		t.Errorf("table: exit %d\n%s", code, out)
	}
}

func TestCampaignPauseResumeCancel(t *testing.T) {
	t.Parallel()
	db, env := controlEnv(t)
	state := func() string {
		var s string
		db.Get(&s, `SELECT state FROM runs WHERE campaign_id = 'sent-news' AND number = 1`)
		return s
	}
	step := func(wantCode int, wantState string, args ...string) {
		t.Helper()
		code, out, errOut := runApp(t, env, args...)
		if code != wantCode || state() != wantState {
			t.Fatalf("%v: exit %d, state %s; want %d, %s\n%s%s", args, code, state(), wantCode, wantState, out, errOut)
		}
	}
	step(0, "paused", "campaign", "pause", "sent-news")
	step(0, "paused", "campaign", "pause", "sent-news", "--run", "1") // already paused
	step(0, "sending", "campaign", "resume", "sent-news")
	step(0, "sending", "campaign", "resume", "sent-news", "--run", "1") // already sending
	step(2, "sending", "campaign", "pause", "sent-news", "--run", "7")  // no such run
	step(2, "sending", "campaign", "pause", "nope")
	var queued int
	db.Get(&queued, `SELECT count(*) FROM deliveries WHERE queued_until IS NOT NULL`)
	if queued != 0 {
		t.Errorf("after resume %d deliveries still believed queued; the reconciler must re-enqueue them", queued)
	}
	step(0, "cancelled", "campaign", "cancel", "sent-news", "--run", "1")
	var pending, cancelled int
	db.Get(&pending, `SELECT count(*) FROM deliveries WHERE state = 'pending'`)
	db.Get(&cancelled, `SELECT count(*) FROM deliveries WHERE state = 'cancelled'`)
	if pending != 0 || cancelled != 3 {
		t.Errorf("after cancel: %d pending, %d cancelled; want 0 and 3", pending, cancelled)
	}
	step(2, "cancelled", "campaign", "resume", "sent-news", "--run", "1")
}

func TestCampaignStatusWatchEndsWhenNoRunIsActive(t *testing.T) {
	t.Parallel()
	for _, asJSON := range []bool{false, true} {
		db, env := controlEnv(t)
		args := []string{"campaign", "status", "sent-news", "--watch"}
		if asJSON {
			args = append(args, "--json")
		}
		go func() {
			time.Sleep(1500 * time.Millisecond)
			db.Exec(`UPDATE runs SET state = 'cancelled' WHERE campaign_id = 'sent-news'`)
		}()
		start := time.Now()
		code, out, errOut := runApp(t, env, args...)
		if code != 0 {
			t.Fatalf("json=%v: exit %d: %s", asJSON, code, errOut)
		}
		if time.Since(start) < time.Second {
			t.Errorf("json=%v: watch ended before the run did", asJSON)
		}
		if asJSON {
			var doc statusDoc
			if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Runs) != 1 || doc.Runs[0].State != "cancelled" {
				t.Errorf("--watch --json: want one final document, got %v\n%s", err, out)
			}
			continue
		}
		// Off a terminal: a plain status line (no escape codes), then the table.
		if strings.Contains(out, "\x1b[") || !strings.Contains(out, "run 1") || !strings.Contains(out, "0/3") || !strings.Contains(out, "cancelled") {
			t.Errorf("watch output:\n%s", out)
		}
	}
}

// TestCampaignListAndStatusShowSkippedOccurrences runs the real scheduler
// twice with a gap of two days between: the occurrence of the day nobody
// ran is shown by list and status with the command that sends it.
func TestCampaignListAndStatusShowSkippedOccurrences(t *testing.T) {
	t.Parallel()
	db, env := controlEnv(t)
	ctx := context.Background()
	daily := &campaigns.Campaign{ID: "daily", Kind: campaigns.KindNewsletter, Digest: "d1",
		Audience: campaigns.Audience{Locales: []string{"ja", "en"}, Consent: "required"},
		Schedule: campaigns.Schedule{Cron: "0 9 * * *", Timezone: "Asia/Tokyo", MaxLate: 30 * time.Minute}}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "daily.yaml"), []byte("id: daily\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runScheduler := func(now time.Time) {
		t.Helper()
		s, err := scheduler.New(scheduler.Options{Dir: dir, DB: db.DB, Now: func() time.Time { return now },
			Load:     func(string) ([]*campaigns.Campaign, []string) { return []*campaigns.Campaign{daily}, nil },
			Start:    scheduler.RunStarter(db.DB, nil),
			Register: scheduler.RegisterWith(db.DB)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		s.Tick(ctx)
	}
	runScheduler(time.Date(2026, 11, 30, 23, 59, 0, 0, time.UTC)) // first sight of the schedule
	runScheduler(time.Date(2026, 12, 1, 0, 1, 0, 0, time.UTC))    // 09:01 JST on the 1st: run 1
	runScheduler(time.Date(2026, 12, 3, 0, 10, 0, 0, time.UTC))   // the 2nd was missed; run 2

	line := "skipped: 2026-12-02 09:00 JST, missed while no scheduler ran — send it with: kizuna campaign start daily --again"
	code, out, errOut := runApp(t, env, "campaign", "status", "daily")
	if code != 0 || !strings.Contains(out, line) {
		t.Errorf("status: exit %d, want the line %q:\n%s%s", code, line, out, errOut)
	}
	code, out, _ = runApp(t, env, "campaign", "list")
	if code != 0 || !strings.Contains(out, "daily "+line) {
		t.Errorf("list: exit %d, want the line %q:\n%s", code, "daily "+line, out)
	}

	var doc struct {
		ID      string            `json:"id"`
		Runs    []json.RawMessage `json:"runs"`
		Skipped []map[string]any  `json:"skipped"`
	}
	code, out, _ = runApp(t, env, "campaign", "status", "daily", "--json")
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 0 || len(doc.Runs) != 2 || len(doc.Skipped) != 1 {
		t.Fatalf("status --json: exit %d, %v\n%s", code, err, out)
	}
	sk := doc.Skipped[0]
	if sk["due_at"] != "2026-12-02T00:00:00Z" || sk["reason"] != "no_scheduler" || sk["command"] != "kizuna campaign start daily --again" || sk["kind"] != "send" {
		t.Errorf("skipped = %v", sk)
	}
	code, out, _ = runApp(t, env, "campaign", "status", "sent-news", "--json")
	if code != 0 || !strings.Contains(strings.Join(strings.Fields(out), ""), `"skipped":[]`) {
		t.Errorf("no skipped occurrence: want \"skipped\": [], got %s", out)
	}
	var list []map[string]any
	code, out, _ = runApp(t, env, "campaign", "list", "--json")
	if err := json.Unmarshal([]byte(out), &list); err != nil || code != 0 {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	for _, e := range list {
		for _, k := range []string{"id", "kind", "next_at", "last_run", "skipped"} {
			if _, ok := e[k]; !ok {
				t.Errorf("%v lacks key %q", e, k)
			}
		}
		if n := len(e["skipped"].([]any)); (e["id"] == "daily") != (n == 1) {
			t.Errorf("%v: %d skipped", e["id"], n)
		}
	}

	// Once sent by hand, list stops reminding; status keeps the history.
	vid, err := runs.CurrentVersion(ctx, db.DB, "daily")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := runs.Create(ctx, db.DB, vid, "manual:"+time.Now().Add(time.Second).UTC().Format(time.RFC3339Nano), runs.KindSend); err != nil {
		t.Fatal(err)
	}
	if _, out, _ = runApp(t, env, "campaign", "list"); strings.Contains(out, "skipped:") {
		t.Errorf("list after a manual run still shows the skipped occurrence:\n%s", out)
	}
	if _, out, _ = runApp(t, env, "campaign", "status", "daily"); !strings.Contains(out, line) {
		t.Errorf("status after a manual run lost the skipped occurrence:\n%s", out)
	}
}

// TestCampaignStatusSaysWhyARunWaits: a run held by a relay outage, the
// relay's daily quota or its send window says so, with until when, in the
// table and in --json; a hold long past is not shown.
func TestCampaignStatusSaysWhyARunWaits(t *testing.T) {
	t.Parallel()
	db, env := controlEnv(t)
	ctx := context.Background()
	var runID int64
	if err := db.Get(&runID, `SELECT id FROM runs WHERE campaign_id = 'sent-news'`); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cases := []struct {
		hold runs.Hold
		want []string
	}{
		{runs.Hold{Reason: runs.HoldRelay, Detail: "the relay does not answer: smtp CONNECT: dial 127.0.0.1:587: connection refused (relay_unavailable)",
			Since: now.Add(-31 * time.Minute), Until: now.Add(time.Minute)},
			[]string{"run 1 waits for the relay since", "(31m", "connection refused", "next try", "No attempt is used"}},
		{runs.Hold{Reason: runs.HoldQuota, Until: time.Date(2031, 1, 2, 3, 4, 0, 0, time.UTC)},
			[]string{"run 1 waits for the relay account's daily quota", "until 2031-01-02 12:04 JST"}},
		{runs.Hold{Reason: runs.HoldWindow, Detail: "America/New_York", Until: time.Date(2031, 1, 2, 14, 0, 0, 0, time.UTC)},
			[]string{"run 1 waits for its send window, which next opens 2031-01-02 09:00 EST (America/New_York, the recipient's time zone)"}},
	}
	for _, c := range cases {
		if err := runs.SetHold(ctx, db, runID, c.hold); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := runApp(t, env, "campaign", "status", "sent-news")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s hold: status lacks %q:\n%s", c.hold.Reason, w, out)
			}
		}
		_, out, _ = runApp(t, env, "campaign", "status", "sent-news", "--json")
		var doc struct{ Runs []struct{ Hold *runs.Hold } }
		if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Runs) != 1 || doc.Runs[0].Hold == nil ||
			doc.Runs[0].Hold.Reason != c.hold.Reason || doc.Runs[0].Hold.Until.Sub(c.hold.Until).Abs() > time.Millisecond {
			t.Errorf("%s hold: --json %s", c.hold.Reason, out)
		}
	}
	// A quota hold whose time has come is over: nothing is shown.
	if err := runs.SetHold(ctx, db, runID, runs.Hold{Reason: runs.HoldQuota, Until: now.Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	if _, out, _ := runApp(t, env, "campaign", "status", "sent-news"); strings.Contains(out, "waits") {
		t.Errorf("a past hold is still shown:\n%s", out)
	}
}
