package render

import (
	"bytes"
	"html"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	ics "github.com/arran4/golang-ical"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/mailtest"
	"github.com/kizuna-alumni/kizuna/internal/token"
)

// noticeWant is what one notice must look like.
type noticeWant struct {
	subject map[string]string // by locale
	// prompt is a phrase of the text above the RSVP buttons, by locale;
	// nil: no RSVP buttons.
	prompt map[string]string
	// method is the calendar object's METHOD ("" for no calendar part),
	// partstat and rsvp its ATTENDEE's, status its STATUS.
	method, partstat, rsvp, status string
}

// noticeWants is the design's table (SPEC issue 11): subjects, buttons and
// calendar objects of every notice.
var noticeWants = map[string]noticeWant{
	NoticeReminder: {
		subject: map[string]string{"ja": "【リマインド】年末アルムナイ交流会", "en": "Reminder: 年末アルムナイ交流会"},
		prompt:  map[string]string{"ja": "ご回答の変更", "en": "change your answer"},
	},
	NoticeUpdate: {
		subject: map[string]string{"ja": "【変更】年末アルムナイ交流会", "en": "Updated: 年末アルムナイ交流会"},
		prompt:  map[string]string{"ja": "ご回答を変更", "en": "change your answer"},
		method:  "REQUEST", partstat: "NEEDS-ACTION", rsvp: "TRUE", status: "CONFIRMED",
	},
	NoticeCancellation: {
		subject: map[string]string{"ja": "【中止】年末アルムナイ交流会", "en": "Cancelled: 年末アルムナイ交流会"},
		method:  "CANCEL", partstat: "", rsvp: "FALSE", status: "CANCELLED",
	},
	NoticeConfirmYes: {
		subject: map[string]string{"ja": "ご出席を承りました：年末アルムナイ交流会", "en": "You're in: 年末アルムナイ交流会"},
		prompt:  map[string]string{"ja": "ご回答を変更", "en": "change your answer"},
		method:  "REQUEST", partstat: "ACCEPTED", rsvp: "TRUE", status: "CONFIRMED",
	},
	NoticeConfirmMaybe: {
		subject: map[string]string{"ja": "ご回答（未定）を承りました：年末アルムナイ交流会", "en": "We noted your “maybe”: 年末アルムナイ交流会"},
		prompt:  map[string]string{"ja": "ご回答を変更", "en": "change your answer"},
		method:  "REQUEST", partstat: "TENTATIVE", rsvp: "TRUE", status: "CONFIRMED",
	},
	NoticeConfirmNo: {
		subject: map[string]string{"ja": "ご欠席を承りました：年末アルムナイ交流会", "en": "Sorry you can't make it: 年末アルムナイ交流会"},
		prompt:  map[string]string{"ja": "ご回答を変更", "en": "change your answer"},
	},
	NoticeWaitlisted: {
		subject: map[string]string{"ja": "キャンセル待ちで承りました：年末アルムナイ交流会", "en": "You're on the waiting list: 年末アルムナイ交流会"},
		prompt:  map[string]string{"ja": "ご回答を変更", "en": "change your answer"},
	},
	NoticePromoted: {
		subject: map[string]string{"ja": "お席をご用意できました：年末アルムナイ交流会", "en": "A place opened up, you're in: 年末アルムナイ交流会"},
		prompt:  map[string]string{"ja": "ご回答の変更", "en": "change your answer"},
		method:  "REQUEST", partstat: "ACCEPTED", rsvp: "TRUE", status: "CONFIRMED",
	},
	NoticeInvitation: {
		subject: map[string]string{"ja": "山田様 年末アルムナイ交流会のご案内", "en": "Join our year-end alumni evening, Jane"},
		prompt:  map[string]string{"ja": "ご出欠をお知らせください", "en": "Will you join us?"},
		method:  "REQUEST", partstat: "NEEDS-ACTION", rsvp: "TRUE", status: "CONFIRMED",
	},
}

// The notice names are the strings of deliveries.notice and of the runs
// package: they must not drift.
func TestNoticeNames(t *testing.T) {
	t.Parallel()
	want := []string{"reminder", "update", "cancellation", "confirm_yes", "confirm_no", "confirm_maybe", "waitlisted", "promoted"}
	if strings.Join(Notices, ",") != strings.Join(want, ",") || NoticeInvitation != "" {
		t.Errorf("Notices = %q, want %q", Notices, want)
	}
	if len(noticeWants) != len(Notices)+1 {
		t.Errorf("the test covers %d notices, there are %d", len(noticeWants), len(Notices)+1)
	}
}

// eventStrings are the event's details as each recipient reads them.
var eventStrings = map[string][]string{
	"ja": {"年末アルムナイ交流会", "2026年12月18日(金) 19:00 〜 21:00", "東京都渋谷区神南1-2-3 Example本社 10F; ラウンジ, 受付"},
	"en": {"年末アルムナイ交流会", "Fri, 18 Dec 2026 10:00 GMT / Fri, 18 Dec 2026 19:00 JST to 12:00 GMT / 21:00 JST", "東京都渋谷区神南1-2-3 Example本社 10F; ラウンジ, 受付"},
}

const wantMapURL = "https://www.google.com/maps/search/?api=1&query=%E6%9D%B1%E4%BA%AC%E9%83%BD%E6%B8%8B%E8%B0%B7%E5%8C%BA%E7%A5%9E%E5%8D%971-2-3+Example%E6%9C%AC%E7%A4%BE+10F%3B+%E3%83%A9%E3%82%A6%E3%83%B3%E3%82%B8%2C+%E5%8F%97%E4%BB%98"

// clickTargets returns the targets of the tracked links (/c/) among urls.
func clickTargets(t *testing.T, urls []string, delivery int64) []string {
	t.Helper()
	var out []string
	for _, u := range urls {
		if strings.HasPrefix(u, "https://alumni.example.co.jp/c/") {
			out = append(out, verifyURL(t, u, "c", token.Click, delivery).URL)
		}
	}
	return out
}

var textURLRE = regexp.MustCompile(`https://[^\s)]+`)

// Every notice, in Japanese and English: Kizuna's subject, the event's
// details (title, start–end in the recipient's zone, place with a map
// link, page), the RSVP buttons but in a cancellation, and everything the
// campaign's own messages carry (From, Reply-To, footer, unsubscribe, open
// pixel, tracked links), in the HTML and the plain text.
func TestNoticeMessages(t *testing.T) {
	t.Parallel()
	inv := mustRender(t, mustPrepare(t, event(), testOptions()), yamada())
	invHeader := parse(t, inv.Data).h
	for _, notice := range append([]string{NoticeInvitation}, Notices...) {
		want := noticeWants[notice]
		o := testOptions()
		o.Notice = notice
		p := mustPrepare(t, event(), o)
		for _, r := range []Recipient{yamada(), smith()} {
			what := notice + "/" + r.Locale
			m := mustRender(t, p, r)
			msg := parse(t, m.Data)
			if s, _ := msg.h.Subject(); s != want.subject[r.Locale] {
				t.Errorf("%s: Subject %q, want %q", what, s, want.subject[r.Locale])
			}
			for _, h := range []string{"From", "Reply-To", "List-Id", "List-Unsubscribe-Post", "Feedback-ID"} {
				if msg.h.Get(h) != invHeader.Get(h) {
					t.Errorf("%s: %s %q, the invitation's %q", what, h, msg.h.Get(h), invHeader.Get(h))
				}
			}
			verifyURL(t, strings.Trim(msg.h.Get("List-Unsubscribe"), "<>"), "u", token.Unsubscribe, r.DeliveryID)
			htm, text := msg.part(t, "text/html").body, msg.part(t, "text/plain").body
			plain := html.UnescapeString(htm)
			shown := []string{company().Name, company().Address, company().Contact}
			if notice != NoticeInvitation { // the invitation shows what the campaign wrote
				shown = append(shown, eventStrings[r.Locale]...)
			}
			for _, s := range shown {
				if !strings.Contains(plain, s) || !strings.Contains(text, s) {
					t.Errorf("%s: %q missing (html %v, text %v)", what, s, strings.Contains(plain, s), strings.Contains(text, s))
				}
			}
			if notice != NoticeInvitation {
				if strings.Contains(htm, "今年も大変お世話になりました") || strings.Contains(htm, "Thank you for this year") {
					t.Errorf("%s: the campaign's body is still there", what)
				}
				// The map and the event page, as tracked links in both parts.
				for part, urls := range map[string][]string{"html": attrURLs(htm), "text": textURLRE.FindAllString(text, -1)} {
					got := strings.Join(clickTargets(t, urls, r.DeliveryID), " ")
					if !strings.Contains(got, wantMapURL) || !strings.Contains(got, "https://example.co.jp/events/2026") {
						t.Errorf("%s %s: tracked links go to %q, want the map and the event page", what, part, got)
					}
				}
			}
			var opens int
			for _, u := range attrURLs(htm) {
				if strings.HasPrefix(u, "https://alumni.example.co.jp/o/") {
					verifyURL(t, u, "o", token.Open, r.DeliveryID)
					opens++
				}
			}
			if opens != 1 {
				t.Errorf("%s: %d open pixels", what, opens)
			}
			// RSVP buttons: one of each answer in the HTML and the text, or none.
			for _, a := range []string{"yes", "no", "maybe"} {
				n := 0
				for _, u := range attrURLs(htm) {
					if strings.HasSuffix(u, "?a="+a) {
						verifyURL(t, u, "r", token.RSVP, r.DeliveryID)
						n++
					}
				}
				wantN := 1
				if want.prompt == nil {
					wantN = 0
				}
				if n != wantN || strings.Count(text, "/r/") != 3*wantN {
					t.Errorf("%s: %d %q RSVP buttons in HTML, %d RSVP links in text; want %d", what, n, a, strings.Count(text, "/r/"), wantN)
				}
			}
			if want.prompt != nil && (!strings.Contains(plain, want.prompt[r.Locale]) || !strings.Contains(text, want.prompt[r.Locale])) {
				t.Errorf("%s: the prompt above the buttons lacks %q", what, want.prompt[r.Locale])
			}
			if (want.method != "") != hasPart(msg, "text/calendar") {
				t.Errorf("%s: calendar part present %v, want %v", what, hasPart(msg, "text/calendar"), want.method != "")
			}
			if pt := p.RenderParts(r); pt.HTML != htm || pt.Text != text || pt.Subject != want.subject[r.Locale] {
				t.Errorf("%s: RenderParts differs from the message", what)
			}
		}
	}
}

func hasPart(m *parsed, ct string) bool {
	for _, p := range m.parts {
		if p.contentType == ct {
			return true
		}
	}
	return false
}

// A notice greets like the campaign (by name, or the group greeting for a
// nameless recipient) and keeps the send-test marks.
func TestNoticeGreetingAndTest(t *testing.T) {
	t.Parallel()
	o := testOptions()
	o.Notice = NoticeConfirmYes
	if pt := mustPrepare(t, event(), o).RenderParts(yamada()); !strings.HasPrefix(pt.Text, "山田 太郎 様\n") {
		t.Errorf("text begins %q", pt.Text[:40])
	}
	o.Test = true
	r := yamada()
	r.FamilyName, r.GivenName = "", ""
	pt := mustPrepare(t, event(), o).RenderParts(r)
	if !strings.HasPrefix(pt.Text, "アルムナイの皆様\n") || pt.Subject != "[TEST] ご出席を承りました：年末アルムナイ交流会" {
		t.Errorf("subject %q, text begins %q", pt.Subject, pt.Text[:40])
	}
	if strings.Contains(pt.HTML, "/o/") || strings.Contains(pt.HTML, "/c/") {
		t.Error("a test copy of a notice is tracked")
	}
}

// An online event (no location) lists no place and no map; an event
// without a page lists no page.
func TestNoticeOptionalDetails(t *testing.T) {
	t.Parallel()
	o := testOptions()
	o.Notice = NoticeReminder
	c := event()
	c.Event.Location = ""
	pt := mustPrepare(t, c, o).RenderParts(yamada())
	if strings.Contains(pt.HTML, "会場") || strings.Contains(pt.Text, "地図") || strings.Contains(pt.HTML, "google.com/maps") {
		t.Error("an event without a location shows a place or map")
	}
	c = event()
	c.Event.URL = ""
	c.Template.Body["ja"] = campaigns.Body{Intros: []string{"ようこそ"}}
	c.Template.Body["en"] = campaigns.Body{Intros: []string{"Welcome"}}
	pt = mustPrepare(t, c, o).RenderParts(smith())
	if strings.Contains(pt.Text, "Details:") || !strings.Contains(pt.Text, "Map:") {
		t.Errorf("an event without a page:\n%s", pt.Text)
	}
}

func TestNoticePrepareRejects(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		c      *campaigns.Campaign
		notice string
	}{
		{"notice for a newsletter", newsletter(), NoticeConfirmYes},
		{"cancellation for a newsletter", newsletter(), NoticeCancellation},
		{"unknown notice", event(), "confirm"},
		{"unknown notice, newsletter", newsletter(), "Reminder"},
	} {
		o := testOptions()
		o.Notice = c.notice
		if _, err := Prepare(c.c, o); err == nil {
			t.Errorf("%s: Prepare accepted it", c.name)
		}
	}
}

// The MIME structure of every notice, read with mailtest (net/mail and
// mime/multipart): a calendar object is there exactly when the design's
// table says so, as a text/calendar alternative whose method parameter is
// the object's METHOD (RFC 6047 §2.4, RFC 5545 §3.7.2) and as the
// invite.ics attachment; otherwise the message is text and HTML only.
func TestNoticeMIMEStructure(t *testing.T) {
	t.Parallel()
	for _, notice := range append([]string{NoticeInvitation}, Notices...) {
		want := noticeWants[notice]
		o := testOptions()
		o.Notice = notice
		o.InboundAddress = "reply@mail.example.co.jp"
		m := mustRender(t, mustPrepare(t, event(), o), yamada())
		root, err := mailtest.Parse(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		var types []string
		var cal, att *mailtest.Part
		for _, l := range root.Leaves() {
			types = append(types, l.MediaType)
			switch {
			case l.MediaType == "text/calendar":
				cal = l
			case l.Attachment():
				att = l
			}
		}
		if want.method == "" {
			if root.MediaType != "multipart/alternative" || strings.Join(types, ",") != "text/plain,text/html" {
				t.Errorf("%s: %s of %q, want multipart/alternative of text and HTML", notice, root.MediaType, types)
			}
			continue
		}
		if root.MediaType != "multipart/mixed" || len(root.Parts) != 2 || root.Parts[0].MediaType != "multipart/alternative" ||
			strings.Join(types, ",") != "text/plain,text/html,text/calendar,application/ics" {
			t.Fatalf("%s: %s of %q", notice, root.MediaType, types)
		}
		if cal.Params["method"] != want.method || cal.Params["charset"] != "UTF-8" {
			t.Errorf("%s: text/calendar parameters %v, want method=%s", notice, cal.Params, want.method)
		}
		if !bytes.Contains(cal.Body, []byte("\r\nMETHOD:"+want.method+"\r\n")) {
			t.Errorf("%s: the object's METHOD is not %s", notice, want.method)
		}
		if att == nil || !bytes.Equal(att.Body, cal.Body) {
			t.Errorf("%s: invite.ics attachment missing or different", notice)
		}
	}
}

// calendarOf parses an iCalendar object back and checks the properties
// every object of an event must have.
func calendarOf(t *testing.T, what, raw string) (method string, e *ics.VEvent) {
	t.Helper()
	for _, l := range strings.SplitAfter(raw, "\r\n") {
		if l == "" {
			continue
		}
		if !strings.HasSuffix(l, "\r\n") || len(l)-2 > 75 || !utf8.ValidString(l) {
			t.Errorf("%s: bad iCalendar line %q (%d octets)", what, l, len(l)-2)
		}
	}
	cal, err := ics.ParseCalendar(strings.NewReader(raw))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	for _, cp := range cal.CalendarProperties {
		if cp.IANAToken == "METHOD" {
			method = cp.Value
		}
	}
	evs := cal.Events()
	if len(evs) != 1 {
		t.Fatalf("%s: %d events", what, len(evs))
	}
	return method, evs[0]
}

// Every calendar object Kizuna writes for an event, parsed back with a
// calendar library: the invitation and each notice that carries one, with
// METHOD, the event's one UID, SEQUENCE, STATUS, ORGANIZER, the
// recipient's ATTENDEE with PARTSTAT and RSVP, DTSTART and DTEND; and the
// PUBLISH object of "add to calendar", with no ATTENDEE.
func TestNoticeCalendars(t *testing.T) {
	t.Parallel()
	c := event()
	c.Event.Sequence = 3
	start, end := time.Date(2026, 12, 18, 10, 0, 0, 0, time.UTC), time.Date(2026, 12, 18, 12, 0, 0, 0, time.UTC)
	check := func(what, raw, method, partstat, rsvp, status string, attendee bool) {
		t.Helper()
		m, e := calendarOf(t, what, raw)
		if m != method {
			t.Errorf("%s: METHOD %q, want %q", what, m, method)
		}
		if e.Id() != "2026-12-year-end@example.co.jp" {
			t.Errorf("%s: UID %q", what, e.Id())
		}
		if p := e.GetProperty(ics.ComponentPropertySequence); p == nil || p.Value != "3" {
			t.Errorf("%s: SEQUENCE %+v, want 3", what, p)
		}
		if p := e.GetProperty(ics.ComponentPropertyStatus); p == nil || p.Value != status {
			t.Errorf("%s: STATUS %+v, want %s", what, p, status)
		}
		if p := e.GetProperty(ics.ComponentPropertyOrganizer); p == nil || p.Value != "mailto:alumni@example.co.jp" || p.ICalParameters["CN"][0] != "Example株式会社" {
			t.Errorf("%s: ORGANIZER %+v", what, p)
		}
		if s, err := e.GetStartAt(); err != nil || !s.Equal(start) {
			t.Errorf("%s: DTSTART %v %v", what, s, err)
		}
		if en, err := e.GetEndAt(); err != nil || !en.Equal(end) {
			t.Errorf("%s: DTEND %v %v", what, en, err)
		}
		if e.GetProperty(ics.ComponentPropertyDtstamp) == nil {
			t.Errorf("%s: no DTSTAMP", what)
		}
		att := e.Attendees()
		if !attendee {
			if len(att) != 0 {
				t.Errorf("%s: %d ATTENDEEs, want none", what, len(att))
			}
			if strings.Contains(raw, "RSVP") {
				t.Errorf("%s: RSVP in a PUBLISH object", what)
			}
			return
		}
		if len(att) != 1 {
			t.Fatalf("%s: %d ATTENDEEs", what, len(att))
		}
		a := att[0]
		if a.Email() != "taro.yamada@example.jp" || a.ICalParameters["CN"][0] != "山田 太郎" {
			t.Errorf("%s: ATTENDEE %q %v", what, a.Value, a.ICalParameters)
		}
		if got := string(a.ParticipationStatus()); got != partstat {
			t.Errorf("%s: PARTSTAT %q, want %q", what, got, partstat)
		}
		if got := a.ICalParameters["RSVP"]; len(got) != 1 || got[0] != rsvp {
			t.Errorf("%s: RSVP %q, want %s", what, got, rsvp)
		}
	}
	for _, notice := range append([]string{NoticeInvitation}, Notices...) {
		want := noticeWants[notice]
		o := testOptions()
		o.Notice = notice
		p := mustPrepare(t, c, o)
		pt := p.RenderParts(yamada())
		if want.method == "" {
			if pt.ICS != "" {
				t.Errorf("%s: a calendar object, want none:\n%s", notice, pt.ICS)
			}
			continue
		}
		check("notice "+notice, pt.ICS, want.method, want.partstat, want.rsvp, want.status, true)
		check("PUBLISH from "+notice, p.EventICS(yamada()), "PUBLISH", "", "", "CONFIRMED", false)
	}
	if s := mustPrepare(t, newsletter(), testOptions()).EventICS(yamada()); s != "" {
		t.Errorf("a newsletter has an event ICS:\n%s", s)
	}
}

// A long Japanese title and location fold at 75 octets without splitting a
// character, and parse back equal, in a notice and in the PUBLISH object.
func TestCalendarFoldsLongJapanese(t *testing.T) {
	t.Parallel()
	c := event()
	c.Event.Title = "第十回 Example株式会社 アルムナイ大忘年会 〜 開発部・営業部・人事部 合同、懐かしい仲間と語らう夕べ 〜 ご家族もどうぞ"
	c.Event.Location = "東京都渋谷区神南一丁目二番三号 Example本社ビル十階 大会議室「さくら」; 受付は一階エントランス, 正面玄関よりお入りください\\地図参照"
	o := testOptions()
	o.Notice = NoticeUpdate
	p := mustPrepare(t, c, o)
	for what, raw := range map[string]string{"update": p.RenderParts(yamada()).ICS, "publish": p.EventICS(yamada())} {
		_, e := calendarOf(t, what, raw)
		if got := e.GetProperty(ics.ComponentPropertySummary).Value; got != c.Event.Title {
			t.Errorf("%s: SUMMARY %q, want %q", what, got, c.Event.Title)
		}
		if got := e.GetProperty(ics.ComponentPropertyLocation).Value; got != c.Event.Location {
			t.Errorf("%s: LOCATION %q, want %q", what, got, c.Event.Location)
		}
		folds := strings.Count(raw, "\r\n ")
		if folds < 4 {
			t.Errorf("%s: %d folded lines; the test should exercise folding", what, folds)
		}
	}
}

// A legacy carrier address whose local part is not a dot-atom is quoted
// in the ATTENDEE's mailto URI as RFC 5321 §4.1.2 needs it, the quotes
// percent-encoded as RFC 6068 §2 writes a quoted-string in a URI; the
// URI decodes back to the address.
func TestCalendarLegacyAttendee(t *testing.T) {
	t.Parallel()
	o := testOptions()
	o.Notice = NoticeConfirmYes
	p := mustPrepare(t, event(), o)
	for _, in := range []string{"taro..yamada@docomo.ne.jp", `"taro..yamada"@docomo.ne.jp`} {
		r := yamada()
		r.SendTo = in
		m := mustRender(t, p, r)
		_, e := calendarOf(t, in, parse(t, m.Data).part(t, "text/calendar").body)
		a := e.Attendees()[0].Value
		if a != "mailto:%22taro..yamada%22@docomo.ne.jp" {
			t.Errorf("%s: ATTENDEE %q", in, a)
		}
		dec, err := url.PathUnescape(strings.TrimPrefix(a, "mailto:"))
		if err != nil || dec != `"taro..yamada"@docomo.ne.jp` {
			t.Errorf("%s: decodes to %q, %v", in, dec, err)
		}
		if addr, err := mail.ParseAddress(dec); err != nil || addr.Address != "taro..yamada@docomo.ne.jp" {
			t.Errorf("%s: %q parses to %+v, %v", in, dec, addr, err)
		}
	}
	for _, c := range []struct{ in, uri, addr string }{
		{"taro.yamada@example.jp", "mailto:taro.yamada@example.jp", "taro.yamada@example.jp"},
		{"reply+abc.def@example.jp", "mailto:reply+abc.def@example.jp", "reply+abc.def@example.jp"},
		{"hanako.@ezweb.ne.jp", "mailto:%22hanako.%22@ezweb.ne.jp", "hanako.@ezweb.ne.jp"},
		{".taro@docomo.ne.jp", "mailto:%22.taro%22@docomo.ne.jp", ".taro@docomo.ne.jp"},
		{`a"b..c@example.jp`, "mailto:%22a%5C%22b..c%22@example.jp", `a"b..c@example.jp`},
		{"a%b&c?d#e/f@example.jp", "mailto:a%25b%26c%3Fd%23e%2Ff@example.jp", "a%b&c?d#e/f@example.jp"},
		{"o'brien{x}@example.com", "mailto:o'brien%7Bx%7D@example.com", "o'brien{x}@example.com"},
		{`"taro yamada"@example.com`, "mailto:%22taro%20yamada%22@example.com", "taro yamada@example.com"},
	} {
		got := mailtoURI(c.in)
		if got != c.uri {
			t.Errorf("mailtoURI(%q) = %q, want %q", c.in, got, c.uri)
			continue
		}
		dec, err := url.PathUnescape(strings.TrimPrefix(got, "mailto:"))
		if err != nil {
			t.Errorf("mailtoURI(%q) = %q does not decode: %v", c.in, got, err)
			continue
		}
		if a, err := mail.ParseAddress(dec); err != nil || a.Address != c.addr {
			t.Errorf("mailtoURI(%q) decodes to %q, which parses to %+v, %v", c.in, dec, a, err)
		}
	}
}

// A notice is signed like any message, and the signature verifies.
func TestNoticeDKIM(t *testing.T) {
	t.Parallel()
	for _, k := range testDKIMKeys(t) {
		for _, notice := range []string{NoticeCancellation, NoticeConfirmYes, NoticeWaitlisted} {
			o := testOptions()
			o.Notice, o.DKIM, o.InboundAddress = notice, k.dkim, "reply@mail.example.co.jp"
			p := mustPrepare(t, event(), o)
			for _, r := range []Recipient{yamada(), smith()} {
				verifyDKIM(t, notice+"/"+r.Locale+"/"+k.name, mustRender(t, p, r).Data, k, p.fromDomain)
			}
		}
	}
}

// The Google Calendar link carries the event with every value
// query-escaped and the times in UTC.
func TestGoogleCalendarURL(t *testing.T) {
	t.Parallel()
	e := event().Event
	e.Title = "Q&A ナイト #1 = 100% fun"
	got := GoogleCalendarURL(e, "詳細: https://example.co.jp/events/2026?x=1&y=2\n受付 18:30")
	const prefix = "https://calendar.google.com/calendar/render?action=TEMPLATE&text="
	if !strings.HasPrefix(got, prefix) || !strings.Contains(got, "&dates=20261218T100000Z/20261218T120000Z&") {
		t.Fatalf("GoogleCalendarURL = %q", got)
	}
	u, err := url.Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for k, want := range map[string]string{
		"action": "TEMPLATE", "text": e.Title, "dates": "20261218T100000Z/20261218T120000Z",
		"location": e.Location, "details": "詳細: https://example.co.jp/events/2026?x=1&y=2\n受付 18:30",
	} {
		if v := q[k]; len(v) != 1 || v[0] != want {
			t.Errorf("%s = %q, want %q", k, v, want)
		}
	}
	if len(q) != 5 || u.Host != "calendar.google.com" || u.Path != "/calendar/render" {
		t.Errorf("URL %q: %d parameters", got, len(q))
	}
	e.Location = ""
	if got := GoogleCalendarURL(e, ""); strings.Contains(got, "location=") || strings.Contains(got, "details=") {
		t.Errorf("empty location and details are written: %q", got)
	}
}

// Once the event is cancelled (event.cancelled), every calendar object a
// message of that version carries is the cancellation (METHOD:CANCEL,
// STATUS:CANCELLED, in the MIME method parameter too), so that no late
// confirmation puts the event back into a calendar; messages without one
// stay without; the download says CANCELLED.
func TestCancelledEventCalendars(t *testing.T) {
	t.Parallel()
	c := event()
	c.Event.Cancelled = true
	for _, notice := range append([]string{NoticeInvitation}, Notices...) {
		o := testOptions()
		o.Notice = notice
		p := mustPrepare(t, c, o)
		msg := parse(t, mustRender(t, p, yamada()).Data)
		if noticeWants[notice].method == "" {
			if hasPart(msg, "text/calendar") {
				t.Errorf("%s: a calendar part, want none", notice)
			}
			continue
		}
		cal := msg.part(t, "text/calendar")
		method, e := calendarOf(t, notice, cal.body)
		if method != "CANCEL" || cal.params["method"] != "CANCEL" || e.GetProperty(ics.ComponentPropertyStatus).Value != "CANCELLED" {
			t.Errorf("%s: METHOD %s, method=%s, STATUS %s; want CANCEL, CANCEL, CANCELLED", notice, method, cal.params["method"], e.GetProperty(ics.ComponentPropertyStatus).Value)
		}
		method, e = calendarOf(t, notice+" publish", p.EventICS(yamada()))
		if method != "PUBLISH" || e.GetProperty(ics.ComponentPropertyStatus).Value != "CANCELLED" {
			t.Errorf("%s: download METHOD %s STATUS %s", notice, method, e.GetProperty(ics.ComponentPropertyStatus).Value)
		}
	}
}
