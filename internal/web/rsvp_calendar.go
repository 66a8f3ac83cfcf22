package web

import (
	"fmt"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/tz"
)

// The RSVP page's event formatting and calendar links. The mails format
// the same values in package render (Event.Start, Event.End, invite.ics);
// these are the page's own small versions, kept to the same rules: times
// in the reader's zone and, when the reader keeps another clock, also in
// the event's own zone; iCalendar times in UTC; the invitation's UID.

var rsvpWeekdaysJA = [...]string{"日", "月", "火", "水", "木", "金", "土"}

// rsvpDateTime formats t in loc: ja "2026年12月18日(金) 19:00", en "Fri, 18
// Dec 2026, 19:00".
func rsvpDateTime(t time.Time, lang string, loc *time.Location) string {
	t = t.In(loc)
	if lang == "ja" {
		return fmt.Sprintf("%d年%d月%d日(%s) %02d:%02d", t.Year(), t.Month(), t.Day(), rsvpWeekdaysJA[t.Weekday()], t.Hour(), t.Minute())
	}
	return t.Format("Mon, 2 Jan 2006, 15:04")
}

// rsvpRange formats an event from start to end in loc for lang: the end as
// a time only when it is the same local day ("2026年12月18日(金) 19:00 〜
// 21:00", "Fri, 18 Dec 2026, 19:00 – 21:00 JST"). English always names the
// zone; Japanese names it when label is true (the reader is abroad).
func rsvpRange(start, end time.Time, lang string, loc *time.Location, label bool) string {
	s, e := start.In(loc), end.In(loc)
	sep := rsvpText[lang]["range_sep"]
	out := rsvpDateTime(s, lang, loc)
	switch {
	case end.IsZero():
	case s.Year() == e.Year() && s.YearDay() == e.YearDay():
		out += sep + e.Format("15:04")
	case lang == "en":
		out += " " + rsvpZoneLabel(s) + sep + rsvpDateTime(e, lang, loc)
	default:
		if label {
			out += " " + rsvpZoneLabel(s)
		}
		out += sep + rsvpDateTime(e, lang, loc)
	}
	if lang == "en" || label {
		out += " " + rsvpZoneLabel(e)
	}
	return out
}

// rsvpZoneLabel names t's zone: its abbreviation (JST, PST), or "UTC-03"
// where the tz database has only a numeric one.
func rsvpZoneLabel(t time.Time) string {
	name, off := t.Zone()
	if name != "" && name[0] != '+' && name[0] != '-' {
		return name
	}
	if off == 0 {
		return "UTC"
	}
	sign := "+"
	if off < 0 {
		sign, off = "-", -off
	}
	if off%3600 == 0 {
		return fmt.Sprintf("UTC%s%02d", sign, off/3600)
	}
	return fmt.Sprintf("UTC%s%02d:%02d", sign, off/3600, off%3600/60)
}

// rsvpEventZone is the zone the event happens in: campaign files give
// starts_at with an offset only (RFC 3339), so it is the campaign's
// schedule zone when that zone has the offset at the start (Asia/Tokyo by
// default), else a fixed zone named by the offset (render does the same).
func rsvpEventZone(start time.Time, scheduleTZ string) *time.Location {
	_, off := start.Zone()
	for _, name := range []string{scheduleTZ, tz.Default} {
		if name == "" {
			continue
		}
		if l, err := time.LoadLocation(name); err == nil {
			if _, o := start.In(l).Zone(); o == off {
				return l
			}
		}
	}
	if off == 9*3600 {
		return time.FixedZone("JST", off)
	}
	return time.FixedZone(rsvpZoneLabel(time.Date(2000, 1, 1, 0, 0, 0, 0, time.FixedZone("", off))), off)
}

// rsvpWhen is the event's time for a reader in zone readerTZ: the range in
// the reader's zone, and (venue != "") the range in the event's own zone
// when the reader keeps another clock at the start.
func rsvpWhen(c *campaigns.Campaign, lang, readerTZ string) (when, venue string) {
	e := c.Event
	loc := tz.Load(readerTZ)
	ev := rsvpEventZone(e.StartsAt, c.Schedule.Timezone)
	_, a := e.StartsAt.In(loc).Zone()
	_, b := e.StartsAt.In(ev).Zone()
	if a == b {
		return rsvpRange(e.StartsAt, e.EndsAt, lang, loc, false), ""
	}
	return rsvpRange(e.StartsAt, e.EndsAt, lang, loc, true), rsvpRange(e.StartsAt, e.EndsAt, lang, ev, true)
}

// rsvpMapURL is a Google Maps search for a place (the documented Maps URLs
// form https://www.google.com/maps/search/?api=1&query=…); "" for none.
func rsvpMapURL(location string) string {
	if strings.TrimSpace(location) == "" {
		return ""
	}
	return "https://www.google.com/maps/search/?" + url.Values{"api": {"1"}, "query": {location}}.Encode()
}

// rsvpGoogleCalendarURL is Google Calendar's "add event" link (the de-facto
// format calendar.google.com/calendar/render?action=TEMPLATE&text=…&dates=
// START/END in UTC, research/domain.md §6): the event's title, times,
// place and details, shown in zone ctz.
func rsvpGoogleCalendarURL(e *campaigns.Event, details, ctz string) string {
	q := url.Values{
		"action": {"TEMPLATE"},
		"text":   {e.Title},
		"dates":  {rsvpICSTime(e.StartsAt) + "/" + rsvpICSTime(rsvpEnd(e))},
	}
	if details != "" {
		q.Set("details", details)
	}
	if e.Location != "" {
		q.Set("location", e.Location)
	}
	if ctz != "" {
		q.Set("ctz", ctz)
	}
	return "https://calendar.google.com/calendar/render?" + q.Encode()
}

// rsvpEnd is the event's end, or its start when the file gives none.
func rsvpEnd(e *campaigns.Event) time.Time {
	if e.EndsAt.IsZero() {
		return e.StartsAt
	}
	return e.EndsAt
}

// rsvpUID is the event's iCalendar UID, the invitation's own (render:
// CAMPAIGN-ID@FROM-DOMAIN), so that a calendar that already holds the
// invitation updates that event instead of adding a second one.
func rsvpUID(c *campaigns.Campaign) string {
	domain := "kizuna.invalid"
	if a, err := mail.ParseAddress(c.From); err == nil {
		if at := strings.LastIndexByte(a.Address, '@'); at >= 0 {
			domain = a.Address[at+1:]
		}
	}
	return c.ID + "@" + domain
}

// rsvpPublishICS is the event as an iCalendar object to add to a calendar
// (RFC 5545; iTIP METHOD:PUBLISH, RFC 5546 §3.2.1: no reply expected):
// the invitation's UID and SEQUENCE, times in UTC, the sender as
// ORGANIZER, the event page as URL. now is DTSTAMP.
func rsvpPublishICS(c *campaigns.Campaign, status string, now time.Time) []byte {
	e := c.Event
	var b []byte
	line := func(l string) { b = rsvpFold(b, l) }
	line("BEGIN:VCALENDAR")
	line("PRODID:-//Kizuna//Kizuna alumni mail//EN")
	line("VERSION:2.0")
	line("CALSCALE:GREGORIAN")
	line("METHOD:PUBLISH")
	line("BEGIN:VEVENT")
	line("UID:" + rsvpICSText(rsvpUID(c)))
	line("SEQUENCE:" + strconv.Itoa(e.Sequence))
	line("DTSTAMP:" + rsvpICSTime(now))
	line("DTSTART:" + rsvpICSTime(e.StartsAt))
	line("DTEND:" + rsvpICSTime(rsvpEnd(e)))
	line("SUMMARY:" + rsvpICSText(e.Title))
	if e.Location != "" {
		line("LOCATION:" + rsvpICSText(e.Location))
	}
	if e.URL != "" {
		line("URL:" + rsvpOneLine(e.URL))
	}
	if a, err := mail.ParseAddress(c.From); err == nil {
		cn := c.Company.Name
		if cn == "" {
			cn = a.Name
		}
		org := "ORGANIZER"
		if cn != "" {
			org += ";CN=" + rsvpICSParam(cn)
		}
		line(org + ":mailto:" + rsvpOneLine(a.Address))
	}
	line("STATUS:" + status)
	line("TRANSP:OPAQUE")
	line("END:VEVENT")
	line("END:VCALENDAR")
	return b
}

func rsvpICSTime(t time.Time) string { return t.UTC().Format("20060102T150405Z") }

// rsvpOneLine drops line breaks and other control characters.
func rsvpOneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// rsvpICSText escapes a TEXT value (RFC 5545 §3.3.11).
func rsvpICSText(s string) string {
	r := strings.NewReplacer(`\`, `\\`, ";", `\;`, ",", `\,`, "\r\n", `\n`, "\n", `\n`, "\r", `\n`)
	return rsvpOneLine(r.Replace(s))
}

// rsvpICSParam quotes a parameter value (RFC 5545 §3.2); DQUOTE cannot
// appear in one.
func rsvpICSParam(s string) string {
	s = strings.ReplaceAll(rsvpOneLine(s), `"`, "'")
	if strings.ContainsAny(s, ":;,") {
		return `"` + s + `"`
	}
	return s
}

// rsvpFold writes a content line folded at 75 octets (RFC 5545 §3.1),
// never inside a UTF-8 sequence, ended by CRLF.
func rsvpFold(dst []byte, l string) []byte {
	limit := 75
	for len(l) > limit {
		n := limit
		for n > 0 && !utf8.RuneStart(l[n]) {
			n--
		}
		dst = append(dst, l[:n]...)
		dst = append(dst, '\r', '\n', ' ')
		l = l[n:]
		limit = 74 // the leading space counts
	}
	dst = append(dst, l...)
	return append(dst, '\r', '\n')
}
