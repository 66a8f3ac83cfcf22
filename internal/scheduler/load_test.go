package scheduler

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeFile writes one campaign file of the folder the real loader reads.
func writeFile(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func newsletter(id, schedule string) string {
	return "id: " + id + `
kind: newsletter
subject: { ja: "お知らせ", en: "News" }
audience: { locales: [ja, en] }
` + schedule + `
template:
  body:
    ja: { intros: ["お元気ですか。"] }
    en: { intros: ["How are you?"] }
`
}

// TestRealFolderReloads drives the scheduler over real campaign files read
// by campaigns.Load: a new file, a changed one, one that becomes invalid
// (its problems are logged at ERROR and it is not sent), one removed.
func TestRealFolderReloads(t *testing.T) {
	t.Parallel()
	defaults, err := os.ReadFile("../../examples/campaigns/kizuna.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	f := newFixture(t, t0)
	writeFile(t, f.dir, "kizuna.yaml", string(defaults))
	s, err := New(Options{
		Dir: f.dir, DB: f.db.DB, Now: f.clock.Now, Load: LoadFolder, Start: RunStarter(f.db.DB, nil), Register: RegisterWith(f.db.DB),
		Log: slog.New(slog.NewTextHandler(f.logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	atOf := func(d time.Duration) string {
		return "schedule:\n  at: " + t0.Add(d).In(time.FixedZone("JST", 9*3600)).Format(time.RFC3339)
	}
	writeFile(t, f.dir, "a.yaml", newsletter("a", atOf(10*time.Minute)))
	writeFile(t, f.dir, "b.yaml", newsletter("b", atOf(20*time.Minute)))
	s.Reload(ctx)
	if got := strings.Join(s.Campaigns(), ","); got != "a,b" {
		t.Fatalf("loaded %q, want a,b", got)
	}
	// The scheduler registered both: campaign list knows them before any run.
	var known int
	f.db.Get(&known, `SELECT count(*) FROM campaign_versions`)
	if known != 2 {
		t.Errorf("%d versions registered, want 2", known)
	}

	// New file; a's file changed to a later time; b's file breaks.
	writeFile(t, f.dir, "c.yaml", newsletter("c", atOf(10*time.Minute)))
	writeFile(t, f.dir, "a.yaml", newsletter("a", atOf(30*time.Minute)))
	writeFile(t, f.dir, "b.yaml", newsletter("b", atOf(20*time.Minute))+"unknown_key: 1\n")
	if changed, _ := s.Reload(ctx); !changed {
		t.Fatal("changes not noticed")
	}
	if got := strings.Join(s.Campaigns(), ","); got != "a,c" {
		t.Errorf("after edits: %q, want a,c (b is invalid)", got)
	}
	if logs := f.logs.String(); !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, "b.yaml:") {
		t.Errorf("the invalid file's problems should be logged at ERROR with file:line:col:\n%s", logs)
	}
	for _, step := range []time.Duration{10, 20, 30} {
		f.clock.Set(t0.Add(step * time.Minute))
		s.Tick(ctx)
	}
	for id, want := range map[string]string{"a": "at:2026-12-01T00:30:00Z", "b": "", "c": "at:2026-12-01T00:10:00Z"} {
		r := f.runs(id)
		if want == "" && len(r) != 0 || want != "" && (len(r) != 1 || r[0].Occurrence != want) {
			t.Errorf("%s: runs %+v, want %q", id, r, want)
		}
	}

	// Removed: its future occurrence is not started.
	writeFile(t, f.dir, "d.yaml", newsletter("d", atOf(40*time.Minute)))
	s.Reload(ctx)
	os.Remove(filepath.Join(f.dir, "d.yaml"))
	s.Reload(ctx)
	f.clock.Set(t0.Add(40 * time.Minute))
	s.Tick(ctx)
	if r := f.runs("d"); len(r) != 0 || strings.Contains(strings.Join(s.Campaigns(), ","), "d") {
		t.Errorf("removed campaign d: runs %+v, scheduled %v", r, s.Campaigns())
	}
}
