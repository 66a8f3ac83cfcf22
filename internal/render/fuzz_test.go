package render

import (
	"bytes"
	"io"
	"net/mail"
	"net/url"
	"strings"
	"testing"

	ics "github.com/arran4/golang-ical"
	gmail "github.com/emersion/go-message/mail"
)

// FuzzRenderRecipient renders hostile alumni data: the message must always
// parse, no value may add a header, and HTML must never carry a raw tag from
// the data.
func FuzzRenderRecipient(f *testing.F) {
	f.Add("<script>", "太郎", "開発部", "a@example.jp", "ja")
	f.Add("O'Brien & \"Sons\"", "Ann\r\nBcc: x@y", "=?UTF-8?B?5bGx?=", "b@example.com", "en")
	f.Add("\x00\xff\xfe", "\u2028", strings.Repeat("髙", 200), "c@example.jp", "xx")
	p := mustPrepare(f, newsletter(), testOptions())
	f.Fuzz(func(t *testing.T, family, given, dept, email, locale string) {
		r := Recipient{DeliveryID: 1, Email: email, FamilyName: family, GivenName: given, Department: dept, Locale: locale}
		m, err := p.Render(r)
		if err != nil {
			return // a bad address is refused, which is fine
		}
		mr, err := gmail.CreateReader(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatalf("unparseable message: %v", err)
		}
		for _, k := range []string{"Bcc", "Cc"} {
			if mr.Header.Get(k) != "" {
				t.Fatalf("%s header injected", k)
			}
		}
		head, _, _ := bytes.Cut(m.Data, []byte("\r\n\r\n"))
		for _, l := range bytes.Split(head, []byte("\r\n")) {
			if len(l) > 998 {
				t.Fatalf("header line of %d octets", len(l))
			}
		}
		html := p.RenderParts(r).HTML
		for _, v := range []string{family, given, dept} {
			if strings.ContainsAny(v, "<>\"'") && strings.Contains(html, v) && len(v) > 3 {
				t.Fatalf("raw value %q in HTML", v)
			}
		}
	})
}

// FuzzCalendarAttendee writes hostile names and addresses into a
// confirmation's calendar object: the message must render only with a
// valid address, and then the object parses with one ATTENDEE whose
// mailto URI decodes back to the address, and no value adds a property.
func FuzzCalendarAttendee(f *testing.F) {
	f.Add("山田", "太郎", "taro..yamada@docomo.ne.jp")
	f.Add("O'Brien; \"x\"", "Ann:\r\nATTENDEE:mailto:evil@example.com", "ann@example.com")
	f.Add("a,b", "c\\d", `"a b\"c"@example.jp`)
	f.Add("x", "y", "a%b&c?d#e/f@example.jp")
	o := testOptions()
	o.Notice = NoticeConfirmYes
	p := mustPrepare(f, event(), o)
	f.Fuzz(func(t *testing.T, family, given, email string) {
		r := Recipient{DeliveryID: 1, Email: email, FamilyName: family, GivenName: given, Locale: "ja"}
		m, err := p.Render(r)
		if err != nil {
			return // a bad address is refused
		}
		mr, err := gmail.CreateReader(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatalf("unparseable message: %v", err)
		}
		var raw []byte
		for {
			pt, err := mr.NextPart()
			if err != nil {
				break
			}
			if h, ok := pt.Header.(*gmail.InlineHeader); ok {
				if ct, _, _ := h.ContentType(); ct == "text/calendar" {
					raw, _ = io.ReadAll(pt.Body)
				}
			}
		}
		cal, err := ics.ParseCalendar(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("calendar does not parse: %v\n%s", err, raw)
		}
		evs := cal.Events()
		if len(evs) != 1 || len(evs[0].Attendees()) != 1 || len(evs[0].Properties) != 12 {
			t.Fatalf("calendar properties changed:\n%s", raw)
		}
		dec, err := url.PathUnescape(strings.TrimPrefix(evs[0].Attendees()[0].Value, "mailto:"))
		if err != nil {
			t.Fatalf("ATTENDEE %q: %v", evs[0].Attendees()[0].Value, err)
		}
		if a, err := mail.ParseAddress(dec); err != nil || a.Address != m.To {
			t.Fatalf("ATTENDEE %q decodes to %q (%v), the message goes to %q", evs[0].Attendees()[0].Value, dec, err, m.To)
		}
	})
}
