package render

import (
	"strings"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/campaigns"
)

// A recipient whose field is empty gets the campaign's fallback for that
// field and locale in the subject, the HTML, the plain text and link
// targets; a recipient with a value gets the value (SPEC.md, Campaign files).
func TestEmptyFieldsGetFallbacks(t *testing.T) {
	t.Parallel()
	c := newsletter()
	c.Fallback = map[string]map[string]string{
		"ja": {"FamilyName": "アルムナイの皆", "Department": "各部署", "YearsSinceLeft": "数", "JoinedOn": "入社", "LeftOn": "退職"},
		"en": {"GivenName": "there", "Department": "your team"},
	}
	c.Template.Body["en"] = campaigns.Body{
		Intros:  []string{"We hope everyone from {{.Department}} is doing well."},
		Actions: []campaigns.Action{{Instructions: "See", ButtonText: "Jobs for {{.GivenName}}", ButtonLink: "https://example.co.jp/careers?who={{.GivenName}}"}},
	}
	c.Tracking.Clicks = false
	p := mustPrepare(t, c, testOptions())

	r := yamada()
	r.FamilyName, r.Department, r.JoinedOn, r.LeftOn = "", " \u3000", time.Time{}, time.Time{}
	pt := p.RenderParts(r)
	if want := "アルムナイの皆様 Exampleアルムナイ通信 2026年冬号"; pt.Subject != want {
		t.Errorf("ja subject = %q, want %q", pt.Subject, want)
	}
	for _, want := range []string{"各部署でご一緒した", "退職されてから数年、アルムナイの皆様のご活躍", "入社〜退職"} {
		if !strings.Contains(pt.HTML, want) {
			t.Errorf("ja HTML lacks %q", want)
		}
		if !strings.Contains(pt.Text, want) {
			t.Errorf("ja text lacks %q", want)
		}
	}

	s := smith()
	s.GivenName, s.Department = "", ""
	pt = p.RenderParts(s)
	if want := "Example alumni news, winter 2026 — hello there"; pt.Subject != want {
		t.Errorf("en subject = %q, want %q", pt.Subject, want)
	}
	for _, want := range []string{"everyone from your team is", "Jobs for there"} {
		if !strings.Contains(pt.HTML, want) || !strings.Contains(pt.Text, want) {
			t.Errorf("en HTML or text lacks %q", want)
		}
	}
	if !strings.Contains(pt.HTML, "careers?who=there") {
		t.Error("en link target lacks the fallback")
	}

	// A value, even a short one, is never replaced.
	s.GivenName = "J"
	if pt := p.RenderParts(s); !strings.HasSuffix(pt.Subject, "hello J") {
		t.Errorf("a given name was replaced: %q", pt.Subject)
	}
	// A fallback of one locale is not used in the other.
	r = yamada()
	r.Locale, r.GivenName, r.FamilyName = "en", "", "Yamada"
	if pt := p.RenderParts(r); !strings.HasSuffix(pt.Subject, "hello there") {
		t.Errorf("en subject %q", pt.Subject)
	}
	r.Locale, r.Department = "ja", ""
	r.FamilyName = ""
	c2 := newsletter()
	p2 := mustPrepare(t, c2, testOptions())
	if pt := p2.RenderParts(r); !strings.HasPrefix(pt.Subject, "様 ") {
		t.Errorf("without a fallback the value stays empty: %q", pt.Subject)
	}
}

// The To header shows the recipient's real name, or the bare address when
// the name is empty: a fallback such as "アルムナイの皆" is grammar for a
// sentence, not a name, and never becomes a display name.
func TestToHeaderNeverUsesFallback(t *testing.T) {
	t.Parallel()
	c := newsletter()
	c.Fallback = map[string]map[string]string{"ja": {"FamilyName": "アルムナイの皆", "FullName": "アルムナイの皆"}}
	p := mustPrepare(t, c, testOptions())
	r := yamada()
	r.FamilyName, r.GivenName = "", ""
	m := parse(t, mustRender(t, p, r).Data)
	if to := m.h.Get("To"); to != "<taro.yamada@example.jp>" {
		t.Errorf("To = %q, want the bare address", to)
	}
	if subj, _ := m.h.Subject(); !strings.HasPrefix(subj, "アルムナイの皆様 ") {
		t.Errorf("Subject = %q", subj)
	}
}
