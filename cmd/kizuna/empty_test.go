package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kizuna-alumni/kizuna/internal/testdb"
)

// emptyFolder writes a campaigns folder whose kizuna.yaml has no fallback
// and one campaign "{{.FamilyName}}様 …" with the extra lines given.
func emptyFolder(t *testing.T, extra string) string {
	t.Helper()
	dir := t.TempDir()
	defaults := `company:
  name: 株式会社サンプル技研
  address: 東京都渋谷区サンプル町1-2-3
  contact: "alumni@example.co.jp / 03-0000-0000"
from: "サンプル技研 人事部 <alumni@example.co.jp>"
`
	camp := `id: nameless
kind: newsletter
subject:
  ja: "{{.FamilyName}}様 アルムナイ通信"
  en: "Hi {{.GivenName}}, how are you?"
template:
  body:
    ja:
      intros: ["{{.Department}}の皆さま、お元気ですか。"]
    en:
      intros: ["How are you?"]
` + extra
	for name, text := range map[string]string{"kizuna.yaml": defaults, "nameless.yaml": camp} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Alumni with an empty family name: start refuses (exit 2) naming the
// field and the count and the flag, until --yes-empty; validate reports
// the same counts.
func TestStartRefusesEmptySubstitutions(t *testing.T) {
	t.Parallel()
	db, env := startEnv(t) // two alumni with full names, ja
	testdb.Alumni(t, db,
		testdb.Alumnus{Email: "c@example.jp", GivenName: "次郎", Department: "開発部", Locale: "ja", Consent: true},
		testdb.Alumnus{Email: "d@example.jp", Department: "営業部", Locale: "ja", Consent: true},
		testdb.Alumnus{Email: "e@example.jp", FamilyName: "Smith", Department: "Sales", Locale: "en", Consent: true})
	dir := emptyFolder(t, "")
	file := filepath.Join(dir, "nameless.yaml")
	nRuns := func() int {
		var n int
		db.Get(&n, `SELECT count(*) FROM runs WHERE campaign_id = 'nameless'`)
		return n
	}

	code, out, errOut := runApp(t, env, "campaign", "start", file, "--yes")
	if code != 2 || nRuns() != 0 {
		t.Fatalf("start with empty names: exit %d, %d runs; want 2 and none\nstdout %s\nstderr %s", code, nRuns(), out, errOut)
	}
	for _, want := range []string{"2 recipients", "{{.FamilyName}} (ja)", "1 recipient ", "{{.GivenName}} (en)", "{{.Department}} (ja)", "--yes-empty", "fallback"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("refusal lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, "Department") && strings.Contains(errOut, "0 recipients") {
		t.Errorf("refusal names a field nobody lacks:\n%s", errOut)
	}

	// validate reports the same, and stays valid (exit 0).
	code, out, errOut = runApp(t, env, "campaign", "validate", file)
	if code != 0 || !strings.Contains(out, "reach 5") || !strings.Contains(out, "FamilyName ja 2 (no fallback)") || !strings.Contains(out, "GivenName en 1 (no fallback)") {
		t.Errorf("validate: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	if !strings.Contains(errOut, "warning") || !strings.Contains(errOut, "--yes-empty") {
		t.Errorf("validate does not warn about uncovered empty values:\n%s", errOut)
	}
	code, out, _ = runApp(t, env, "campaign", "validate", "--json", file)
	var rep struct {
		Campaigns []struct {
			ID    string `json:"id"`
			Empty []struct {
				Field    string  `json:"field"`
				Locale   string  `json:"locale"`
				Count    int     `json:"count"`
				Fallback *string `json:"fallback"`
			} `json:"empty"`
		} `json:"campaigns"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || len(rep.Campaigns) != 1 {
		t.Fatalf("validate --json: exit %d, %v\n%s", code, err, out)
	}
	got := map[string]int{}
	for _, e := range rep.Campaigns[0].Empty {
		got[e.Field+"/"+e.Locale] = e.Count
		if e.Fallback != nil {
			t.Errorf("%s/%s: fallback %q, want null", e.Field, e.Locale, *e.Fallback)
		}
	}
	if want := map[string]int{"FamilyName/ja": 2, "Department/ja": 2, "GivenName/en": 1}; !equalCounts(got, want) {
		t.Errorf("validate --json empty = %v, want %v", got, want)
	}

	// --yes-empty: it starts.
	code, out, errOut = runApp(t, env, "campaign", "start", file, "--yes", "--yes-empty")
	if code != 0 || nRuns() != 1 || !strings.Contains(out, "5 deliveries") {
		t.Fatalf("start --yes-empty: exit %d, %d runs\nstdout %s\nstderr %s", code, nRuns(), out, errOut)
	}
}

// With a fallback for every field that some recipient lacks, start goes on
// without --yes-empty and says which fallbacks are used.
func TestStartWithFallbacksNeedsNoFlag(t *testing.T) {
	t.Parallel()
	db, env := startEnv(t)
	testdb.Alumni(t, db, testdb.Alumnus{Email: "c@example.jp", GivenName: "次郎", Locale: "ja", Consent: true},
		testdb.Alumnus{Email: "e@example.jp", FamilyName: "Smith", Locale: "en", Consent: true})
	dir := emptyFolder(t, "fallback:\n  ja: { FamilyName: アルムナイの皆, Department: 各部署 }\n  en: { GivenName: there }\n")
	code, out, errOut := runApp(t, env, "campaign", "start", filepath.Join(dir, "nameless.yaml"), "--yes")
	if code != 0 || !strings.Contains(out, "4 deliveries") {
		t.Fatalf("start: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	if !strings.Contains(out, `1 recipient gets the fallback "アルムナイの皆" for {{.FamilyName}} (ja)`) {
		t.Errorf("start does not say which fallbacks are used:\n%s", out)
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
