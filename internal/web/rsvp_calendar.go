package web

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/render"
	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/tz"
)

// The RSVP page's event times and calendar links. The mails format the
// times in package render (Event.Start, Event.End), which does not export
// them; these are the page's own, kept to the same rules: times in the
// reader's zone and, when the reader keeps another clock, also in the
// event's own zone. The calendar object and the Google Calendar link are
// render's (EventICS, GoogleCalendarURL), so they match the invitation.

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

// rsvpGoogleCalendarURL is render's Google Calendar link of the event with
// its URL as details, shown in the reader's zone (ctz, an IANA name).
func rsvpGoogleCalendarURL(e *campaigns.Event, readerTZ string) string {
	return render.GoogleCalendarURL(e, e.URL) + "&ctz=" + url.QueryEscape(tz.Name(readerTZ))
}

// rsvpICSBase stands for KIZUNA_BASE_URL where the web server prepares a
// version for its calendar object only: render.Prepare needs a base, and
// the PUBLISH object holds no link of Kizuna's.
const rsvpICSBase = "https://kizuna.invalid"

// rsvpCalendarsMax bounds the prepared versions a server keeps.
const rsvpCalendarsMax = 32

// rsvpCalendars keeps, per campaign version, the version as render
// prepared it (versions never change), for the "add to calendar" objects.
type rsvpCalendars struct {
	mu sync.Mutex
	m  map[int64]*render.Prepared
}

// rsvpICS returns the event of v as a calendar object to add to a
// calendar: render's PUBLISH object (RFC 5546 §3.2.1) with the
// invitation's UID and SEQUENCE, STATUS:CANCELLED once it is cancelled.
func (s *Server) rsvpICS(v runs.RSVPView) ([]byte, error) {
	s.cals.mu.Lock()
	p := s.cals.m[v.VersionID]
	s.cals.mu.Unlock()
	if p == nil {
		var err error
		p, err = render.Prepare(v.Campaign, render.Options{BaseURL: rsvpICSBase, Signer: s.opt.Signer, Now: s.opt.Now})
		if err != nil {
			return nil, err
		}
		s.cals.mu.Lock()
		if s.cals.m == nil || len(s.cals.m) >= rsvpCalendarsMax {
			s.cals.m = map[int64]*render.Prepared{}
		}
		s.cals.m[v.VersionID] = p
		s.cals.mu.Unlock()
	}
	return []byte(p.EventICS(render.Recipient{DeliveryID: v.DeliveryID, Email: v.Email, FamilyName: v.FamilyName,
		GivenName: v.GivenName, Locale: v.Locale, TimeZone: v.TimeZone})), nil
}
