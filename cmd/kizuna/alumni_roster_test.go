package main

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding/japanese"
)

// The legacy docomo/au addresses are accepted by every command that takes an
// address, plain or quoted, and name the same person.
func TestAlumniLegacyCarrierAddresses(t *testing.T) {
	t.Parallel()
	env, file := previewSetup(t)
	path := writeFile(t, "legacy.csv", []byte("email,name,department\n"+
		"Taro..Yamada@docomo.ne.jp,山田 太郎,営業部\n"+
		`"""hanako.""@ezweb.ne.jp",佐藤 花子,開発部`+"\n"+
		"jiro@docomo.ne.jp@docomo.ne.jp,x,\n"+
		"jiro@docomo,x,\n"))
	code, out, errOut := runApp(t, env, "alumni", "import", path)
	if code != 2 || !strings.Contains(out, "imported 2, updated 0, unchanged 0, rejected 2") {
		t.Fatalf("import: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{":4: jiro@docomo.ne.jp@docomo.ne.jp: bad address", "two @", ":5: jiro@docomo: bad address", "domain has no dot"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}

	code, out, errOut = runApp(t, env, "alumni", "show", "--json", `"Taro..Yamada"@docomo.ne.jp`)
	var shown struct {
		Email string `json:"email"`
	}
	if err := json.Unmarshal([]byte(out), &shown); err != nil || code != 0 || shown.Email != "taro..yamada@docomo.ne.jp" {
		t.Errorf("show by the quoted form: exit %d %v\n%s%s", code, err, out, errOut)
	}
	if code, out, errOut := runApp(t, env, "alumni", "show", "hanako.@ezweb.ne.jp"); code != 0 || !strings.Contains(out, "<hanako.@ezweb.ne.jp>") {
		t.Errorf("show hanako.@: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := runApp(t, env, "campaign", "preview", file, "--to", `"hanako."@ezweb.ne.jp`); code != 0 || !strings.Contains(out, "開発部の皆様") {
		t.Errorf("preview --to the quoted form: exit %d\n%s", code, errOut)
	}
	if code, out, errOut := runApp(t, env, "campaign", "preview", file, "--to", "taro..yamada@docomo.ne.jp", "--format", "text"); code != 0 || !strings.Contains(out, "営業部の皆様") {
		t.Errorf("preview --to taro..yamada@: exit %d\n%s", code, errOut)
	}
	if code, out, errOut := runApp(t, env, "alumni", "unsubscribe", `"hanako."@ezweb.ne.jp`); code != 0 || !strings.Contains(out, "unsubscribed") {
		t.Errorf("unsubscribe by the quoted form: exit %d %s%s", code, out, errOut)
	}
	if code, out, _ := runApp(t, env, "alumni", "show", "--json", "hanako.@ezweb.ne.jp"); code != 0 || !strings.Contains(out, `"status": "unsubscribed"`) {
		t.Errorf("after unsubscribe: %s", out)
	}
	if code, out, errOut := runApp(t, env, "alumni", "forget", `"taro..yamada"@DOCOMO.ne.jp`); code != 0 || !strings.Contains(out, "forgot") {
		t.Errorf("forget by the quoted form: exit %d %s%s", code, out, errOut)
	}
	if code, _, _ := runApp(t, env, "alumni", "show", "taro..yamada@docomo.ne.jp"); code != 2 {
		t.Errorf("show after forget: exit %d", code)
	}
}

// A CP932 file of half-width katakana that is also valid UTF-8 is read as
// CP932; a close call is said on stderr with a sample of each reading;
// --encoding forces the reading.
func TestAlumniImportEncoding(t *testing.T) {
	t.Parallel()
	env, _ := alumniEnv(t)
	kana, err := japanese.ShiftJIS.NewEncoder().String("email,family_name_kana,given_name_kana\r\nmiki@example.jp,ﾐｷ,ﾕｳ\r\n")
	if err != nil || !utf8.ValidString(kana) {
		t.Fatalf("test data: %v", err)
	}
	path := writeFile(t, "kana.csv", []byte(kana))
	code, out, errOut := runApp(t, env, "alumni", "import", path)
	if code != 0 || !strings.Contains(out, "imported 1, updated 0, unchanged 0, rejected 0 ("+path+", cp932)") || errOut != "" {
		t.Fatalf("import: exit %d\n%s%s", code, out, errOut)
	}
	if _, out, _ := runApp(t, env, "alumni", "show", "miki@example.jp"); !strings.Contains(out, "ﾐｷ ﾕｳ") {
		t.Errorf("show: %s", out)
	}
	// Forced the wrong way, it is what the reader did before: Cyrillic.
	code, out, errOut = runApp(t, env, "alumni", "import", "--dry-run", "--encoding", "UTF-8", path)
	if code != 0 || !strings.Contains(out, "updated 1") || !strings.Contains(out, "utf-8)") {
		t.Errorf("--encoding utf-8: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := runApp(t, env, "alumni", "import", "--encoding", "cp932", path); code != 0 || !strings.Contains(out, "unchanged 1") {
		t.Errorf("--encoding cp932: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := runApp(t, env, "alumni", "import", "--encoding", "latin1", path); code != 2 || !strings.Contains(errOut, `unknown --encoding "latin1" (utf-8 or cp932)`) {
		t.Errorf("--encoding latin1: exit %d %s", code, errOut)
	}
	code, out, _ = runApp(t, env, "alumni", "import", "--json", "--encoding", "euc-jp", path)
	var res importJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 2 || !strings.Contains(res.Error, "unknown --encoding") {
		t.Errorf("--json --encoding euc-jp: exit %d %v %s", code, err, out)
	}

	latin := writeFile(t, "latin.csv", []byte("email,name,locale\njose@example.com,José García,en\n"))
	code, out, errOut = runApp(t, env, "alumni", "import", latin)
	if code != 0 || !strings.Contains(out, "utf-8)") {
		t.Fatalf("close call: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{latin + ": warning: the file reads as both UTF-8 and CP932; chose utf-8", latin + ":   as utf-8: jose@example.com,José García,en", latin + ":   as cp932: jose@example.com,Josﾃｩ Garcﾃｭa,en"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if n := strings.Count(errOut, "\n"); n != 3 {
		t.Errorf("want 3 lines on stderr, got %d:\n%s", n, errOut)
	}
}

// An export re-imports as unchanged, every row, in both encodings: the
// example roster (300 people) plus the values that are easy to lose (a
// consent time with sub-second precision recorded at import or resubscribe,
// half-width kana, a legacy address, a value that starts with an apostrophe
// before a formula character, tags, an empty department, no employee id).
func TestAlumniExportReimportsUnchanged(t *testing.T) {
	t.Parallel()
	env, db := alumniEnv(t)
	if code, out, errOut := runApp(t, env, "alumni", "import", filepath.Join("..", "..", "examples", "alumni.csv")); code != 0 {
		t.Fatalf("import examples: exit %d\n%s%s", code, out, errOut)
	}
	extra := writeFile(t, "extra.csv", []byte("email,name,family_name_kana,given_name_kana,department,tags,consent,employee_id,timezone\n"+
		"taro..yamada@docomo.ne.jp,山田 太郎,ﾔﾏﾀﾞ,ﾀﾛｳ,'=SUM(A1),a;b,yes,,America/New_York\n"+
		"hanako.@ezweb.ne.jp,佐藤 花子,,,,,yes,E-900,\n"+
		"jiro@example.jp,,,,'-5,,no,,\n"+
		"saburo@example.jp,,,,''=x,,,,\n"))
	if code, out, errOut := runApp(t, env, "alumni", "import", extra); code != 0 || !strings.Contains(out, "imported 4") {
		t.Fatalf("import extra: exit %d\n%s%s", code, out, errOut)
	}
	for _, args := range [][]string{
		{"alumni", "unsubscribe", "hanako.@ezweb.ne.jp"},
		{"alumni", "resubscribe", "hanako.@ezweb.ne.jp", "--consent-source", "'=電話 (a value that starts with an apostrophe)"},
	} {
		if code, out, errOut := runApp(t, env, args...); code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
	}
	table := func() (rows []string) {
		t.Helper()
		if err := db.Select(&rows, `SELECT row(a.*)::text FROM alumni a ORDER BY id`); err != nil {
			t.Fatal(err)
		}
		return rows
	}
	before := table()
	for _, enc := range []string{"utf-8", "cp932"} {
		code, csv, errOut := runApp(t, env, "alumni", "export", "--encoding", enc)
		if code != 0 {
			t.Fatalf("export %s: exit %d %s", enc, code, errOut)
		}
		path := writeFile(t, "export-"+enc+".csv", []byte(csv))
		code, out, errOut := runApp(t, env, "alumni", "import", "--json", path)
		var res importJSON
		if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 || res.Imported != 0 || res.Updated != 0 || res.Unchanged != 304 || len(res.Rejected) != 0 {
			t.Errorf("re-import of the %s export: exit %d %v %+v\n%s", enc, code, err, res, errOut)
		}
		if strings.Contains(errOut, "warning") {
			t.Errorf("re-import of the %s export warns:\n%s", enc, errOut)
		}
		if after := table(); !reflect.DeepEqual(after, before) {
			for i := range min(len(before), len(after)) {
				if before[i] != after[i] {
					t.Errorf("re-importing the %s export changed\n%s\nto\n%s", enc, before[i], after[i])
				}
			}
			before = after
		}
	}
}
