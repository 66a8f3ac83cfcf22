package templates

import (
	"strings"
	"testing"
)

func TestThemes(t *testing.T) {
	t.Parallel()
	p := Placeholders{Greeting: "GREET", Subject: "SUBJ", CompanyName: "CONAME", CompanyAddress: "COADDR",
		CompanyContact: "COCONTACT", CompanyURL: "COURL", PrivacyURL: "PRIV", Logo: "LOGO",
		Unsubscribe: "UNSUB", Open: "OPEN", RSVP: "RSVP"}
	for _, name := range Themes {
		for _, loc := range Locales {
			for _, o := range []Options{{}, {Logo: true, Privacy: true, Open: true, RSVP: true}} {
				th, err := NewTheme(name, loc, p, o)
				if err != nil {
					t.Fatalf("%s/%s: %v", name, loc, err)
				}
				html, text := th.HTMLTemplate(), th.PlainTextTemplate()
				if th.Name() != name || !strings.Contains(html, `<html xmlns="http://www.w3.org/1999/xhtml" lang="`+loc+`"`) {
					t.Errorf("%s/%s: name or lang attribute", name, loc)
				}
				if !strings.Contains(html, "Hiragino Kaku Gothic ProN") && loc == "ja" {
					t.Errorf("%s/%s: no CJK font stack", name, loc)
				}
				for _, want := range []string{"GREET", "CONAME", "COADDR", "COCONTACT", "UNSUB"} {
					if !strings.Contains(html, want) || !strings.Contains(text, want) {
						t.Errorf("%s/%s: %s missing", name, loc, want)
					}
				}
				for opt, ph := range map[bool][]string{o.Open: {"OPEN"}, o.RSVP: {"RSVP"}, o.Privacy: {"PRIV"}, o.Logo: {"LOGO"}} {
					for _, s := range ph {
						if strings.Contains(html, s) != opt {
							t.Errorf("%s/%s %+v: %s present=%v", name, loc, o, s, !opt)
						}
					}
				}
				if strings.Contains(html, "[[") || strings.Contains(text, "[[") {
					t.Errorf("%s/%s: first-pass action left", name, loc)
				}
			}
		}
	}
	if _, err := NewTheme("neon", "ja", p, Options{}); err == nil {
		t.Error("unknown theme accepted")
	}
	if _, err := NewTheme("default", "fr", p, Options{}); err == nil {
		t.Error("unknown locale accepted")
	}
}

// Japanese strings carry no ASCII commas (和文には読点「、」を使う), and each
// locale says that the reader can refuse further mail.
func TestStrings(t *testing.T) {
	t.Parallel()
	ja, _ := StringsFor("ja")
	for _, s := range []string{ja.DefaultSignature, ja.GroupGreeting, ja.Honorific, ja.RefusalNotice, ja.TroubleAfter, ja.RSVPPrompt} {
		if strings.Contains(s, ",") {
			t.Errorf("ASCII comma in %q", s)
		}
	}
	if !strings.Contains(ja.RefusalNotice, "配信停止") {
		t.Error("ja refusal notice")
	}
	en, _ := StringsFor("en")
	if !strings.Contains(en.RefusalNotice, "unsubscribe") || en.GreetingPrefix != "Dear " {
		t.Error("en strings")
	}
}
