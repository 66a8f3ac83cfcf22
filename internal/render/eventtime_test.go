package render

import (
	"strings"
	"testing"
	"time"
)

func TestFormatEventEnd(t *testing.T) {
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	la, _ := time.LoadLocation("America/Los_Angeles")
	start := time.Date(2026, 12, 18, 19, 0, 0, 0, tokyo)
	cases := []struct {
		name   string
		end    time.Time
		locale string
		loc    *time.Location
		want   string
	}{
		{"same day ja", start.Add(2 * time.Hour), "ja", tokyo, "21:00"},
		{"same day en", start.Add(2 * time.Hour), "en", tokyo, "21:00 JST"},
		{"past midnight ja", start.Add(6 * time.Hour), "ja", tokyo, "2026年12月19日(土) 01:00"},
		// 02:00–04:00 in Los Angeles the same day there.
		{"same day in the recipient's zone", start.Add(2 * time.Hour), "en", la, "04:00 PST"},
		{"past midnight in Tokyo, the same day in Los Angeles", start.Add(6 * time.Hour), "en", la, "08:00 PST"},
		{"a year later", start.AddDate(1, 0, 0), "ja", tokyo, "2027年12月18日(土) 19:00"},
	}
	for _, c := range cases {
		if got := formatEventEnd(start, c.end, c.locale, c.loc); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// An invitation to a recipient on another clock shows the event's time in
// their zone and in the event's own (JST), in the body (HTML and text) and
// in the text above the RSVP buttons; a recipient in Tokyo sees one time.
func TestEventTimesAbroad(t *testing.T) {
	t.Parallel()
	la := func(locale string) Recipient {
		r := smith()
		r.Locale, r.TimeZone = locale, "America/Los_Angeles"
		return r
	}
	tokyo := func(locale string) Recipient {
		r := yamada()
		r.Locale = locale
		return r
	}
	p := mustPrepare(t, event(), testOptions())
	for _, c := range []struct {
		name       string
		r          Recipient
		start, end string
		rsvp       string
	}{
		{"en in Los Angeles", la("en"), "Fri, 18 Dec 2026 02:00 PST / Fri, 18 Dec 2026 19:00 JST", "04:00 PST / 21:00 JST",
			"When: Fri, 18 Dec 2026 02:00 PST / Fri, 18 Dec 2026 19:00 JST to 04:00 PST / 21:00 JST"},
		{"ja in Los Angeles", la("ja"), "2026年12月18日(金) 02:00 PST / 2026年12月18日(金) 19:00 JST", "",
			"日時: 2026年12月18日(金) 02:00 PST / 2026年12月18日(金) 19:00 JST 〜 04:00 PST / 21:00 JST"},
		{"en in Tokyo", tokyo("en"), "Fri, 18 Dec 2026 19:00 JST", "21:00 JST", "When: Fri, 18 Dec 2026 19:00 JST to 21:00 JST"},
		{"ja in Tokyo", tokyo("ja"), "2026年12月18日(金) 19:00", "", "日時: 2026年12月18日(金) 19:00 〜 21:00"},
	} {
		pt := p.RenderParts(c.r)
		for part, body := range map[string]string{"html": pt.HTML, "text": pt.Text} {
			for _, want := range []string{c.start, c.end, c.rsvp} {
				if !strings.Contains(body, want) {
					t.Errorf("%s: %s lacks %q:\n%s", c.name, part, want, body)
				}
			}
		}
		if c.r.TimeZone == "Asia/Tokyo" {
			for part, body := range map[string]string{"html": pt.HTML, "text": pt.Text} {
				if strings.Contains(body, " / ") && strings.Contains(body, "JST / ") {
					t.Errorf("%s: %s shows the time twice", c.name, part)
				}
			}
			if c.r.Locale == "en" && strings.Count(c.rsvp, "JST") != 2 { // start and end, once each
				t.Errorf("%s: %q", c.name, c.rsvp)
			}
		}
	}
}

func TestZoneLabelsAndEventZone(t *testing.T) {
	t.Parallel()
	saoPaulo, _ := time.LoadLocation("America/Sao_Paulo")
	kolkata, _ := time.LoadLocation("Asia/Kolkata")
	at := time.Date(2026, 12, 18, 19, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		t    time.Time
		want string
	}{{at.In(saoPaulo), "UTC-03"}, {at.In(kolkata), "IST"}, {at, "UTC"}, {at.In(time.FixedZone("", 5*3600+1800)), "UTC+05:30"}} {
		if got := zoneLabel(c.t); got != c.want {
			t.Errorf("zoneLabel(%v) = %q, want %q", c.t, got, c.want)
		}
	}
	for _, c := range []struct {
		start, tz, want string
	}{
		{"2026-12-18T19:00:00+09:00", "Asia/Tokyo", "Asia/Tokyo"},
		{"2026-12-18T19:00:00+09:00", "", "Asia/Tokyo"},
		{"2026-12-18T19:00:00+09:00", "Europe/Berlin", "Asia/Tokyo"},
		{"2026-12-18T19:00:00+01:00", "Europe/Berlin", "Europe/Berlin"},
		{"2026-12-18T19:00:00+05:30", "Asia/Tokyo", "UTC+05:30"},
	} {
		start, err := time.Parse(time.RFC3339, c.start)
		if err != nil {
			t.Fatal(err)
		}
		if got := eventZone(start, c.tz).String(); got != c.want {
			t.Errorf("eventZone(%s, %q) = %s, want %s", c.start, c.tz, got, c.want)
		}
	}
}
