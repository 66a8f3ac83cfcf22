package main

import (
	"encoding/json"
	"strings"
	"testing"
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
