package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/japanese"

	"github.com/kizuna-alumni/kizuna/internal/roster"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
)

// alumniEnv gives a test its own database and the environment pointing at it.
func alumniEnv(t *testing.T) (map[string]string, *testdb.DB) {
	t.Helper()
	db := testdb.New(t)
	return map[string]string{"KIZUNA_DATABASE_URL": db.URL}, db
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

type importJSON struct {
	Imported  int `json:"imported"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
	Rejected  []struct {
		Line   int    `json:"line"`
		Email  string `json:"email"`
		Reason string `json:"reason"`
	} `json:"rejected"`
	Error string `json:"error"`
}

func TestAlumniImportCommand(t *testing.T) {
	t.Parallel()
	env, db := alumniEnv(t)
	text := "メールアドレス,氏名,部署,同意,備考\r\n" +
		"Takahashi@Example.jp,髙橋 一郎,㈱開発部①,はい,x\r\n" +
		"\"yamasaki@example.jp\",\"山﨑\r\n花子\",営業部,はい,\r\n" + // lines 3-4: LF in a name
		"bad@,x,,,\r\n" + // line 5
		"\"a@b.com\r\nBcc: x@y.com\",x,,,\r\n" // lines 6-7: header injection
	sjis, err := japanese.ShiftJIS.NewEncoder().String(text)
	if err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, "roster.csv", []byte(sjis))

	code, out, errOut := runApp(t, env, "alumni", "import", "--dry-run", path)
	if code != 2 || !strings.Contains(out, "imported 1, updated 0, unchanged 0, rejected 3") || !strings.Contains(out, "dry run") {
		t.Fatalf("dry run: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	var n int
	db.Get(&n, `SELECT count(*) FROM alumni`)
	if n != 0 {
		t.Fatalf("dry run stored %d rows", n)
	}

	code, out, errOut = runApp(t, env, "alumni", "import", path)
	if code != 2 || !strings.Contains(out, "imported 1, updated 0, unchanged 0, rejected 3 ("+path+", cp932)") {
		t.Fatalf("import: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	for _, want := range []string{
		path + ":1: warning: unknown column \"備考\"",
		path + ":3: yamasaki@example.jp: name contains a control character (U+000A)",
		path + ":5: bad@: bad address",
		path + `:6: "a@b.com\nBcc: x@y.com": email contains a control character`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}

	code, out, _ = runApp(t, env, "alumni", "import", "--json", path)
	var res importJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("--json output is not one JSON document: %v\n%s", err, out)
	}
	if code != 2 || res.Imported != 0 || res.Unchanged != 1 || len(res.Rejected) != 3 || res.Rejected[2].Line != 6 || res.Rejected[2].Email != "a@b.com\nBcc: x@y.com" {
		t.Errorf("--json: exit %d %+v", code, res)
	}

	clean := writeFile(t, "clean.csv", []byte("email,family_name\nok@example.com,OK\n"))
	if code, out, errOut := runApp(t, env, "alumni", "import", clean); code != 0 || !strings.Contains(out, "imported 1") || errOut != "" {
		t.Errorf("clean import: exit %d %s %s", code, out, errOut)
	}
}

func TestAlumniImportNotCSV(t *testing.T) {
	t.Parallel()
	env, _ := alumniEnv(t)
	bin := writeFile(t, "photo.png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00"))
	code, out, errOut := runApp(t, env, "alumni", "import", bin)
	if code != 2 || out != "" || !strings.Contains(errOut, "not a roster CSV") {
		t.Errorf("binary file: exit %d stdout %q stderr %q", code, out, errOut)
	}
	noEmail := writeFile(t, "names.csv", []byte("name\nTaro\n"))
	code, out, _ = runApp(t, env, "alumni", "import", "--json", noEmail)
	var res importJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 2 || !strings.Contains(res.Error, "no email column") || res.Rejected == nil {
		t.Errorf("no email column --json: exit %d %v %s", code, err, out)
	}
	code, _, errOut = runApp(t, env, "alumni", "import", filepath.Join(t.TempDir(), "missing.csv"))
	if code != 2 || !strings.Contains(errOut, "missing.csv") {
		t.Errorf("missing file: exit %d %s", code, errOut)
	}
	// The database being down is a runtime failure (1), still one JSON document.
	down := map[string]string{"KIZUNA_DATABASE_URL": "postgres://postgres:hunter2secret@127.0.0.1:1/x?sslmode=disable&connect_timeout=2"}
	good := writeFile(t, "good.csv", []byte("email\na@example.com\n"))
	code, out, errOut = runApp(t, down, "alumni", "import", "--json", good)
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 1 || res.Error == "" || strings.Contains(out+errOut, "hunter2secret") {
		t.Errorf("database down: exit %d %v\n%s\n%s", code, err, out, errOut)
	}
}

func TestAlumniExportShowAndStatusCommands(t *testing.T) {
	t.Parallel()
	env, db := alumniEnv(t)
	path := writeFile(t, "r.csv", []byte("email,name,locale,tags,consent\njane@example.com,Jane Doe,en,sales;boomerang,yes\ntaro@example.jp,山田 太郎,,,no\n"))
	if code, _, errOut := runApp(t, env, "alumni", "import", path); code != 0 {
		t.Fatalf("import: %d %s", code, errOut)
	}

	code, out, _ := runApp(t, env, "alumni", "export")
	if code != 0 || !strings.HasPrefix(out, "\xEF\xBB\xBFemail,") || !strings.Contains(out, "\r\njane@example.com,Doe,Jane,") {
		t.Errorf("export: %d %q", code, out)
	}
	code, out, _ = runApp(t, env, "alumni", "export", "--encoding", "cp932")
	if dec, _ := japanese.ShiftJIS.NewDecoder().String(out); code != 0 || !strings.Contains(dec, "山田,太郎") {
		t.Errorf("cp932 export: %d", code)
	}
	if code, _, _ := runApp(t, env, "alumni", "export", "--encoding", "latin1"); code != 2 {
		t.Errorf("unknown encoding: exit %d", code)
	}
	code, out, _ = runApp(t, env, "alumni", "export", "--json")
	var people []map[string]any
	if err := json.Unmarshal([]byte(out), &people); err != nil || code != 0 || len(people) != 2 || people[0]["given_name"] != "Jane" {
		t.Errorf("export --json: %d %v %s", code, err, out)
	}

	code, out, _ = runApp(t, env, "alumni", "show", "JANE@example.com")
	if code != 0 || !strings.Contains(out, "Jane Doe <jane@example.com>") || !strings.Contains(out, "sales, boomerang") || !strings.Contains(out, "history: none") {
		t.Errorf("show: %d\n%s", code, out)
	}
	var alumID int64
	db.Get(&alumID, `SELECT id FROM alumni WHERE email = 'jane@example.com'`)
	testdb.Campaign(t, db, testdb.CampaignOpts{ID: "party", Kind: "event", Digest: "d"})
	run := testdb.Run(t, db, testdb.RunOpts{Campaign: "party", Occurrence: "o"})
	testdb.Deliveries(t, db, testdb.DeliveriesOpts{Run: run, Alumni: []int64{alumID}, State: "sent", SentAt: time.Now()})
	for _, q := range []string{
		`INSERT INTO delivery_events (delivery_id, kind, classification) SELECT id, 'open', 'human' FROM deliveries`,
		`INSERT INTO rsvps (campaign_id, alumni_id, answer) VALUES ('party', $1, 'maybe')`,
	} {
		args := []any{}
		if strings.Contains(q, "$1") {
			args = append(args, alumID)
		}
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	code, out, _ = runApp(t, env, "alumni", "show", "--json", "jane@example.com")
	var shown struct {
		Email   string           `json:"email"`
		Tags    []string         `json:"tags"`
		Consent bool             `json:"consent"`
		History []map[string]any `json:"history"`
	}
	if err := json.Unmarshal([]byte(out), &shown); err != nil || code != 0 || shown.Email != "jane@example.com" || !shown.Consent || len(shown.History) != 3 {
		t.Fatalf("show --json: %d %v\n%s", code, err, out)
	}
	if h := shown.History; h[0]["type"] != "delivery" || h[0]["campaign_id"] != "party" || h[0]["run"] != 1.0 || h[0]["state"] != "sent" {
		t.Errorf("history[0] = %v", h[0])
	}
	code, out, _ = runApp(t, env, "alumni", "show", "--json", "nobody@example.com")
	if code != 2 || !json.Valid([]byte(out)) || !strings.Contains(out, "no alumnus") {
		t.Errorf("show unknown: %d %s", code, out)
	}

	if code, out, _ := runApp(t, env, "alumni", "unsubscribe", "taro@example.jp"); code != 0 || !strings.Contains(out, "unsubscribed taro@example.jp") {
		t.Errorf("unsubscribe: %d %s", code, out)
	}
	if code, out, _ := runApp(t, env, "alumni", "unsubscribe", "taro@example.jp"); code != 0 || !strings.Contains(out, "already") {
		t.Errorf("second unsubscribe: %d %s", code, out)
	}
	// An address not in the roster is suppressed all the same, said plainly
	// on stdout, exit 0 (SPEC.md: alumni unsubscribe), as forget does.
	for _, verb := range []string{"unsubscribe", "forget"} {
		code, out, errOut := runApp(t, env, "alumni", verb, "nobody@example.jp")
		if code != 0 || !strings.Contains(out, "nobody@example.jp is not in the roster") ||
			!strings.Contains(out, "suppression list") || errOut != "" {
			t.Errorf("%s unknown: exit %d, stdout %q, stderr %q; want exit 0 and a plain \"not in the roster ... suppression list\"", verb, code, out, errOut)
		}
	}
	if code, _, errOut := runApp(t, env, "alumni", "resubscribe", "taro@example.jp"); code != 2 || !strings.Contains(errOut, "--consent-source") {
		t.Errorf("resubscribe without source: %d %s", code, errOut)
	}
	if code, _, _ := runApp(t, env, "alumni", "resubscribe", "taro@example.jp", "--consent-source", "電話で再同意 2026-11-20"); code != 0 {
		t.Errorf("resubscribe: %d", code)
	}
	if code, _, errOut := runApp(t, env, "alumni", "resubscribe", "taro@example.jp", "--consent-source", "x"); code != 2 || !strings.Contains(errOut, "only an unsubscribed alumnus") {
		t.Errorf("resubscribe active: %d %s", code, errOut)
	}
	code, out, _ = runApp(t, env, "alumni", "show", "--json", "taro@example.jp")
	if !strings.Contains(out, `"status": "active"`) || !strings.Contains(out, `"consent_source": "電話で再同意 2026-11-20"`) {
		t.Errorf("after resubscribe: %s", out)
	}

	if code, out, _ := runApp(t, env, "alumni", "forget", "jane@example.com"); code != 0 || !strings.Contains(out, "forgot jane@example.com") {
		t.Errorf("forget: %d %s", code, out)
	}
	if code, _, _ := runApp(t, env, "alumni", "show", "jane@example.com"); code != 2 {
		t.Errorf("show after forget: exit %d", code)
	}
	if code, out, _ := runApp(t, env, "alumni", "forget", "stranger@example.com"); code != 0 || !strings.Contains(out, "not in the roster") {
		t.Errorf("forget unknown: %d %s", code, out)
	}
	// The forgotten address cannot come back through an import.
	code, out, _ = runApp(t, env, "alumni", "import", "--json", path)
	var res importJSON
	json.Unmarshal([]byte(out), &res)
	if code != 2 || len(res.Rejected) != 1 || res.Rejected[0].Reason != "the address was erased at the person's request" {
		t.Errorf("re-import after forget: %d %s", code, out)
	}
}

// The example roster imports with no rejected rows.
func TestExampleRosterImports(t *testing.T) {
	t.Parallel()
	env, _ := alumniEnv(t)
	code, out, errOut := runApp(t, env, "alumni", "import", "--json", filepath.Join("..", "..", "examples", "alumni.csv"))
	var res importJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 || len(res.Rejected) != 0 || res.Imported < 250 || errOut != "" {
		t.Fatalf("examples/alumni.csv: exit %d %v %+v\n%s", code, err, res, errOut)
	}
}

// TestAlumniShowSaysWhatMailThePersonChose: a preference saved on the
// unsubscribe page shows in alumni show, text and JSON.
func TestAlumniShowSaysWhatMailThePersonChose(t *testing.T) {
	t.Parallel()
	env, db := alumniEnv(t)
	path := writeFile(t, "r.csv", []byte("email,name,consent\nyumi@example.jp,林 由美,yes\n"))
	if code, _, errOut := runApp(t, env, "alumni", "import", path); code != 0 {
		t.Fatalf("import: %d %s", code, errOut)
	}
	if _, out, _ := runApp(t, env, "alumni", "show", "yumi@example.jp"); !regexp.MustCompile(`(?m)^\s*mail\s+all$`).MatchString(out) {
		t.Errorf("show before any choice:\n%s", out)
	}
	var id int64
	if err := db.Get(&id, `SELECT id FROM alumni WHERE email = 'yumi@example.jp'`); err != nil {
		t.Fatal(err)
	}
	if err := roster.SetPreferences(context.Background(), db.DB, id, roster.MailEvent, "ja"); err != nil {
		t.Fatal(err)
	}
	if _, out, _ := runApp(t, env, "alumni", "show", "yumi@example.jp"); !strings.Contains(out, "only event invitations") {
		t.Errorf("show after choosing event invitations only:\n%s", out)
	}
	_, out, _ := runApp(t, env, "alumni", "show", "--json", "yumi@example.jp")
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil || doc["mail_kinds"] != "event" {
		t.Errorf("show --json: %v %s", err, out)
	}
}
