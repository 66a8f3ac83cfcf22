package e2e

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestValidateReportsEveryProblem checks a folder with two broken files
// through the binary: exit 2, every problem on stderr as file:line:col:
// message, and with --json exactly one document naming the same problems.
func TestValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	copyExample(t, dir, "kizuna.yaml")
	copyExample(t, dir, launchID+".yaml")
	a := writeFile(t, dir, "broken-a.yaml", []byte(`id: broken-a
kind: newsletter
subject:
  ja: "{{.Nickname}}様 お知らせ"
  en: "Hello {{.GivenName}}"
colour: blue
template:
  body:
    ja: { intros: ["こんにちは"] }
    en: { intros: ["Hello"] }
`))
	b := writeFile(t, dir, "broken-b.yaml", []byte(`id: broken-b
kind: webinar
subject: { ja: "お知らせ", en: "News" }
schedule:
  at: 2026-13-01T10:10:00+09:00
template:
  body:
    ja: { intros: ["こんにちは"] }
    en: { intros: ["Hello"] }
`))
	// Offline: the database does not answer, which must not matter.
	vars := map[string]string{"KIZUNA_DATABASE_URL": "postgres://kizuna:db-pass-Zq81@" + freeAddr(t) + "/kizuna?sslmode=disable"}
	// Each file's problems, by line: the unknown template field, the
	// unknown key, the unknown kind, the impossible date.
	want := map[string][]int{a: {4, 6}, b: {2, 5}}

	r := kizuna(t, vars, "campaign", "validate", dir)
	if r.Code != 2 {
		t.Fatalf("two broken files: want exit 2\n%s", r)
	}
	problem := regexp.MustCompile(`^(.+):(\d+):(\d+): (.+)$`)
	got := map[string][]int{}
	for _, line := range strings.Split(strings.TrimSpace(r.Stderr), "\n") {
		m := problem.FindStringSubmatch(line)
		if m == nil {
			continue // a summary line
		}
		n, _ := strconv.Atoi(m[2])
		if col, _ := strconv.Atoi(m[3]); col < 1 || m[4] == "" {
			t.Errorf("problem without a column or a message: %q", line)
		}
		file := m[1]
		if !filepath.IsAbs(file) {
			file = filepath.Join(dir, filepath.Base(file))
		}
		got[file] = append(got[file], n)
	}
	checkLines := func(how string, got map[string][]int) {
		t.Helper()
		for file, lines := range want {
			for _, l := range lines {
				found := false
				for _, g := range got[file] {
					found = found || g == l
				}
				if !found {
					t.Errorf("%s: no problem reported at %s:%d (got lines %v)", how, filepath.Base(file), l, got[file])
				}
			}
		}
		for file := range got {
			if _, ok := want[file]; !ok {
				t.Errorf("%s: a problem reported in %s, which is valid", how, file)
			}
		}
	}
	checkLines("stderr", got)
	if strings.Contains(r.Stdout+r.Stderr, "db-pass-Zq81") {
		t.Errorf("the database password leaked:\n%s", r)
	}

	r = kizuna(t, vars, "campaign", "validate", dir, "--json")
	if r.Code != 2 {
		t.Fatalf("--json with two broken files: want exit 2\n%s", r)
	}
	var rep struct {
		OK        *bool
		Campaigns []struct {
			ID    string
			File  string
			Reach *int
		}
		Errors []struct {
			File      string
			Line, Col int
			Message   string
		}
	}
	dec := json.NewDecoder(strings.NewReader(r.Stdout))
	if err := dec.Decode(&rep); err != nil || dec.More() {
		t.Fatalf("--json: want exactly one JSON document (%v)\n%s", err, r)
	}
	if rep.OK == nil || *rep.OK {
		t.Errorf("--json: ok %v, want false", rep.OK)
	}
	got = map[string][]int{}
	for _, e := range rep.Errors {
		if e.Col < 1 || e.Message == "" {
			t.Errorf("--json error without a column or message: %+v", e)
		}
		file := e.File
		if !filepath.IsAbs(file) {
			file = filepath.Join(dir, filepath.Base(file))
		}
		got[file] = append(got[file], e.Line)
	}
	checkLines("--json", got)
	ids := map[string]bool{}
	for _, c := range rep.Campaigns {
		ids[c.ID] = true
		if c.Reach != nil {
			t.Errorf("%s: reach %d offline, want null", c.ID, *c.Reach)
		}
	}
	if !ids[launchID] || ids["broken-a"] || ids["broken-b"] {
		t.Errorf("--json campaigns %+v; want the valid %s and neither broken one", rep.Campaigns, launchID)
	}
	if len(rep.Errors) != strings.Count(kizuna(t, vars, "campaign", "validate", dir).Stderr, ".yaml:") {
		t.Errorf("--json lists %d problems, stderr a different number", len(rep.Errors))
	}
	t.Logf("%d problems reported in 2 files", len(rep.Errors))
}
