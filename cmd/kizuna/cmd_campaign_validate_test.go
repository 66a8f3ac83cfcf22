package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/internal/testdb"
)

const examplesCampaigns = "../../examples/campaigns"

func TestCampaignValidateExamplesWithReach(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	testdb.Alumni(t, db, testdb.Alumnus{Email: "monthly@example.jp", Locale: "ja", Tags: []string{"monthly-note"}, Consent: true})
	env := map[string]string{"KIZUNA_DATABASE_URL": db.URL}
	// Before the examples' at times, so that none is past (a warning).
	before := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

	code, out, errOut := runAppAt(t, before, env, "campaign", "validate", examplesCampaigns)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{"2026-12-year-end", "event", "at 2026-12-01 10:10 +09:00", `cron "10 10 5 * *" Asia/Tokyo`, "reach 1", "reach 0"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "\n"); n != 6 {
		t.Errorf("%d lines, want one per campaign:\n%s", n, out)
	}

	code, out, _ = runAppAt(t, before, env, "campaign", "validate", "--json", examplesCampaigns)
	var rep validateReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 {
		t.Fatalf("exit %d, %v: %s", code, err, out)
	}
	reach := map[string]int{}
	for _, c := range rep.Campaigns {
		if c.Reach == nil {
			t.Fatalf("%s: reach null with a reachable database", c.ID)
		}
		reach[c.ID] = *c.Reach
	}
	want := map[string]int{"2026-12-year-end": 0, "2027-01-study-session": 0, "2027-02-boomerang-hiring": 0, "2027-q1-newsletter": 1, "alumni-network-launch": 1, "monthly-alumni-note": 1}
	if !rep.OK || len(rep.Errors) != 0 || len(reach) != len(want) {
		t.Fatalf("report %+v", rep)
	}
	for id, n := range want {
		if reach[id] != n {
			t.Errorf("%s: reach %d, want %d", id, reach[id], n)
		}
	}
}

func TestCampaignValidateOffline(t *testing.T) {
	t.Parallel()
	env := map[string]string{"KIZUNA_DATABASE_URL": "postgres://kizuna:s3cret-pw@127.0.0.1:1/nowhere?sslmode=disable"}
	code, out, errOut := runApp(t, env, "campaign", "validate", "--json", filepath.Join(examplesCampaigns, "2026-12-year-end.yaml"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	cs := doc["campaigns"].([]any)
	if len(cs) != 1 || cs[0].(map[string]any)["reach"] != nil || doc["ok"] != true {
		t.Errorf("document %s", out)
	}
	if _, present := cs[0].(map[string]any)["reach"]; !present {
		t.Errorf("reach key missing: %s", out)
	}
	if !strings.Contains(errOut, "reach not computed") || strings.Contains(errOut, "s3cret-pw") {
		t.Errorf("stderr %q", errOut)
	}
}

func TestCampaignValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	kizuna, _ := os.ReadFile(filepath.Join(examplesCampaigns, "kizuna.yaml"))
	files := map[string]string{
		"kizuna.yaml": string(kizuna),
		"bad.yaml": `id: Bad
kind: event
subject: { ja: "{{.Nope}}", en: x }
template: { body: { ja: { intros: [a] } } }
`,
		"good.yaml": `id: good
kind: newsletter
subject: { ja: a, en: b }
template: { body: { ja: { intros: [a] }, en: { intros: [b] } } }
`,
	}
	for n, s := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"KIZUNA_DATABASE_URL": "postgres://127.0.0.1:1/nowhere?sslmode=disable"}
	bad := filepath.Join(dir, "bad.yaml")
	wantErrs := []string{
		bad + `:1:1: event is required (an event campaign needs its event block: title, starts_at, ends_at, location)`,
		bad + `:1:5: id: campaign id "Bad" must match [a-z0-9][a-z0-9-]{0,62} (lower-case letters, digits and hyphens)`,
		bad + `:3:16: subject.ja: template: unknown field {{.Nope}}; the fields are FamilyName, GivenName, FullName, Department, JoinedOn, LeftOn, YearsSinceLeft, Email, Event.Title, Event.Start, Event.End, Event.Location, Event.URL`,
		bad + `:4:13: template.body.en is required (the audience includes locale en)`,
	}
	code, out, errOut := runApp(t, env, "campaign", "validate", dir)
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	for _, w := range wantErrs {
		if !strings.Contains(errOut, w+"\n") {
			t.Errorf("stderr lacks %q:\n%s", w, errOut)
		}
	}
	if !strings.Contains(out, "good") || strings.Contains(out, "Bad") {
		t.Errorf("stdout %q", out)
	}

	code, out, _ = runApp(t, env, "campaign", "validate", "--json", dir)
	var rep validateReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not one JSON document: %v\n%s", err, out)
	}
	if code != 2 || rep.OK || len(rep.Campaigns) != 1 || rep.Campaigns[0].ID != "good" || len(rep.Errors) != len(wantErrs) {
		t.Fatalf("exit %d, report %+v", code, rep)
	}
	if e := rep.Errors[2]; e.File != bad || e.Line != 3 || e.Col != 16 || !strings.HasPrefix(e.Message, "subject.ja: template: unknown field") {
		t.Errorf("error %+v", e)
	}

	// Nothing to validate is a problem too; a missing path is reported as one.
	code, out, _ = runApp(t, env, "campaign", "validate", "--json", filepath.Join(dir, "missing"))
	if code != 2 || !strings.Contains(out, `"ok": false`) || !strings.Contains(out, "no such file or folder") {
		t.Errorf("missing path: exit %d %s", code, out)
	}
	if code, _, _ := runApp(t, env, "campaign", "validate"); code != 2 {
		t.Errorf("no argument: exit %d", code)
	}
}

// runAppAt is runApp with the program's clock set to now.
func runAppAt(t *testing.T, now time.Time, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	app := NewApp(strings.NewReader(""), &out, &errOut, testGetenv(env))
	app.Now = func() time.Time { return now }
	defer app.Close()
	code = app.Run(context.Background(), args)
	return code, out.String(), errOut.String()
}

func TestCampaignValidateWarnsAboutDaylightSavingAndPastAt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	defaults, err := os.ReadFile(filepath.Join(examplesCampaigns, "kizuna.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	body := "template:\n  body:\n    ja: { intros: [\"こんにちは\"] }\n    en: { intros: [\"Hello\"] }\n"
	files := map[string]string{
		"kizuna.yaml": string(defaults),
		"night.yaml":  "id: night\nkind: newsletter\nsubject: { ja: \"お知らせ\", en: \"News\" }\nschedule:\n  cron: \"30 2 * * *\"\n  timezone: America/New_York\n" + body,
		"gone.yaml":   "id: gone\nkind: newsletter\nsubject: { ja: \"お知らせ\", en: \"News\" }\nschedule:\n    at: 2026-11-01T09:00:00+09:00\n" + body,
		"fine.yaml":   "id: fine\nkind: newsletter\nsubject: { ja: \"お知らせ\", en: \"News\" }\nschedule:\n  cron: \"30 2 * * *\"\n" + body,
		"later.yaml":  "id: later\nkind: newsletter\nsubject: { ja: \"お知らせ\", en: \"News\" }\nschedule:\n  at: 2026-12-01T09:00:00+09:00\n" + body,
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	env := map[string]string{"KIZUNA_DATABASE_URL": "postgres://kizuna@127.0.0.1:1/nowhere?sslmode=disable"}
	code, out, errOut := runAppAt(t, now, env, "campaign", "validate", dir)
	if code != 0 {
		t.Fatalf("warnings only: exit %d, want 0\n%s", code, errOut)
	}
	night, gone := filepath.Join(dir, "night.yaml"), filepath.Join(dir, "gone.yaml")
	for _, want := range []string{
		night + ":5:9: warning: cron \"30 2 * * *\" in America/New_York names 02:30, which does not exist on 2027-03-14",
		gone + ":5:9: warning: schedule.at 2026-11-01T09:00:00+09:00 is already past",
		"kizuna campaign start gone",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if n := strings.Count(errOut, "warning:"); n != 2 {
		t.Errorf("%d warnings, want 2 (Tokyo has no daylight saving; a future at is fine):\n%s", n, errOut)
	}
	if !strings.Contains(out, "night") || !strings.Contains(out, "gone") {
		t.Errorf("the campaigns are valid and listed:\n%s", out)
	}

	code, out, _ = runAppAt(t, now, env, "campaign", "validate", "--json", dir)
	var rep struct {
		OK       bool              `json:"ok"`
		Errors   []validateError   `json:"errors"`
		Warnings []validateError   `json:"warnings"`
		Camps    []json.RawMessage `json:"campaigns"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 {
		t.Fatalf("exit %d, %v: %s", code, err, out)
	}
	if !rep.OK || len(rep.Errors) != 0 || len(rep.Camps) != 4 || len(rep.Warnings) != 2 {
		t.Fatalf("report %s", out)
	}
	for _, w := range rep.Warnings {
		if w.Line != 5 || w.Col != 9 || strings.HasPrefix(w.Message, "warning") {
			t.Errorf("warning %+v: want line 5 col 9 and a bare message", w)
		}
	}
}
