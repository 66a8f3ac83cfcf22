package templates

import (
	"html"
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

// Every notice has its wording in every locale: a subject and intros that
// name the event, Japanese without ASCII commas, and RSVP buttons in every
// notice but the cancellation (nothing is left to answer).
func TestNoticeWording(t *testing.T) {
	t.Parallel()
	names := []string{"reminder", "update", "cancellation", "confirm_yes", "confirm_no", "confirm_maybe", "waitlisted", "promoted"}
	if len(noticesByLocale) != len(names) {
		t.Errorf("%d notices have wording, want %d", len(noticesByLocale), len(names))
	}
	for _, name := range names {
		for _, loc := range Locales {
			n, err := NoticeFor(name, loc)
			if err != nil {
				t.Fatalf("%s/%s: %v", name, loc, err)
			}
			if !strings.Contains(n.Subject, "{{.Event.Title}}") || len(n.Intros) == 0 || !strings.Contains(n.Intros[0], "{{.Event.Title}}") {
				t.Errorf("%s/%s: the subject or first intro does not name the event: %q %q", name, loc, n.Subject, n.Intros)
			}
			if (n.RSVPPrompt == "") != (name == "cancellation") {
				t.Errorf("%s/%s: RSVP prompt %q", name, loc, n.RSVPPrompt)
			}
			if loc == "ja" {
				for _, s := range append([]string{n.Subject, n.RSVPPrompt}, n.Intros...) {
					if strings.Contains(s, ",") {
						t.Errorf("%s/ja: ASCII comma in %q", name, s)
					}
				}
			}
			n.Intros[0] = "changed"
			if again, _ := NoticeFor(name, loc); again.Intros[0] == "changed" {
				t.Errorf("%s/%s: NoticeFor shares its intros with the caller", name, loc)
			}
		}
	}
	for _, bad := range [][2]string{{"confirm", "ja"}, {"reminder", "fr"}, {"", "ja"}} {
		if _, err := NoticeFor(bad[0], bad[1]); err == nil {
			t.Errorf("NoticeFor(%q, %q) accepted", bad[0], bad[1])
		}
	}
}

// The event's details block of notices: title, time, place with its map
// link and page, each only when given; the time is then not repeated above
// the RSVP buttons, whose prompt can be replaced (and is HTML-escaped).
func TestThemeDetails(t *testing.T) {
	t.Parallel()
	p := Placeholders{Greeting: "GREET", CompanyName: "CONAME", Unsubscribe: "UNSUB", RSVP: "RSVPURL",
		EventStart: "EVSTART", EventEnd: "EVEND", EventTitle: "EVTITLE", EventLocation: "EVLOC", EventMap: "EVMAP", EventURL: "EVURL"}
	for _, loc := range Locales {
		s, _ := StringsFor(loc)
		for _, o := range []Options{
			{RSVP: true, Details: true, Location: true, URL: true, RSVPPrompt: "Change <it>"},
			{RSVP: false, Details: true},
			{RSVP: true},
		} {
			th, err := NewTheme("default", loc, p, o)
			if err != nil {
				t.Fatal(err)
			}
			page, text := th.HTMLTemplate(), th.PlainTextTemplate()
			for _, c := range []struct {
				what string
				want bool
				in   []string
			}{
				{"title", o.Details, []string{"EVTITLE"}},
				{"map link", o.Details && o.Location, []string{`<a href="EVMAP" target="_blank">EVLOC</a>`}},
				{"page link", o.Details && o.URL, []string{`<a href="EVURL" target="_blank">EVURL</a>`}},
				{"rsvp-when", o.RSVP && !o.Details, []string{`class="rsvp-when"`}},
				{"buttons", o.RSVP, []string{"RSVPURL?a=yes"}},
				{"own prompt", o.RSVPPrompt != "", []string{"Change &lt;it&gt;"}},
				{"time", o.Details || o.RSVP, []string{"EVSTART" + html.EscapeString(s.RangeSep) + "EVEND"}},
			} {
				for _, in := range c.in {
					if strings.Contains(page, in) != c.want {
						t.Errorf("%s %+v: HTML has %s: %v", loc, o, c.what, !c.want)
					}
				}
			}
			if strings.Contains(text, "EVMAP") != (o.Details && o.Location) || strings.Contains(text, "EVURL") != (o.Details && o.URL) ||
				strings.Contains(text, "EVTITLE") != o.Details || strings.Contains(text, "RSVPURL") != o.RSVP {
				t.Errorf("%s %+v: plain text:\n%s", loc, o, text)
			}
		}
	}
}
