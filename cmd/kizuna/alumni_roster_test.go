package main

import (
	"encoding/json"
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
