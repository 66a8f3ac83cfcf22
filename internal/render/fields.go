package render

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/kizuna-alumni/kizuna/internal/tz"
)

// field identifies a value that a placeholder stands for.
type field int

// The fields. Those up to fEventURL are the campaign substitutions
// (campaigns.Fields and campaigns.EventFields); the rest are Kizuna's own.
const (
	fFamilyName field = iota
	fGivenName
	fFullName
	fDepartment
	fJoinedOn
	fLeftOn
	fYearsSinceLeft
	fEmail
	fEventTitle
	fEventStart
	fEventEnd
	fEventLocation
	fEventURL
	fGreeting
	fSubject
	fUnsubscribe
	fOpen
	fRSVP
	fCompanyName
	fCompanyAddress
	fCompanyContact
	fCompanyURL
	fPrivacyURL
	fLogo
	fEventMap // a map search for the event's location (notices)
	fBreak    // a line break inside a signature
	numFields
	// fLink is the first link; link i is fLink+i.
	fLink = numFields
)

// fieldCodes are the alphanumeric names used inside placeholders.
var fieldCodes = [numFields]string{
	"FAMILYNAME", "GIVENNAME", "FULLNAME", "DEPARTMENT", "JOINEDON", "LEFTON",
	"YEARSSINCELEFT", "EMAIL", "EVENTTITLE", "EVENTSTART", "EVENTEND",
	"EVENTLOCATION", "EVENTURL", "GREETING", "SUBJECT", "UNSUB", "OPEN", "RSVP",
	"COMPANYNAME", "COMPANYADDRESS", "COMPANYCONTACT", "COMPANYURL", "PRIVACYURL", "LOGO", "EVENTMAP", "BR",
}

// templateFields maps the names written in campaign files to fields.
var templateFields = map[string]field{
	"FamilyName": fFamilyName, "GivenName": fGivenName, "FullName": fFullName,
	"Department": fDepartment, "JoinedOn": fJoinedOn, "LeftOn": fLeftOn,
	"YearsSinceLeft": fYearsSinceLeft, "Email": fEmail,
	"Event.Title": fEventTitle, "Event.Start": fEventStart, "Event.End": fEventEnd,
	"Event.Location": fEventLocation, "Event.URL": fEventURL,
}

// isURLField reports whether f holds a whole URL that Kizuna built or
// validated: such a value may open an href; any other value inside a URL is
// percent-encoded.
func isURLField(f field) bool {
	switch f {
	case fEventURL, fEventMap, fUnsubscribe, fOpen, fRSVP, fCompanyURL, fPrivacyURL, fLogo:
		return true
	}
	return f >= fLink
}

// isStatic reports whether f is the same for every recipient of a campaign
// version, so that it is resolved once in Prepare.
func isStatic(f field) bool {
	switch f {
	case fEventTitle, fEventLocation, fEventURL, fCompanyName, fCompanyAddress,
		fCompanyContact, fCompanyURL, fPrivacyURL, fLogo, fEventMap, fBreak:
		return true
	}
	return false
}

var substRE = regexp.MustCompile(`\{\{\s*\.([A-Za-z][A-Za-z.]*)\s*\}\}`)

// placeholders makes and recognises the tokens that stand for fields in
// rendered output. The nonce is random per Prepare so that no campaign text
// can contain a placeholder by accident or design.
type placeholders struct {
	nonce string
	re    *regexp.Regexp
}

func newPlaceholders(nonce string) *placeholders {
	return &placeholders{nonce: nonce, re: regexp.MustCompile(`KZ` + nonce + `([A-Y]+[0-9]*)ZK`)}
}

func (p *placeholders) of(f field) string {
	if f >= fLink {
		return "KZ" + p.nonce + "LINK" + strconv.Itoa(int(f-fLink)) + "ZK"
	}
	return "KZ" + p.nonce + fieldCodes[f] + "ZK"
}

// fieldOf parses a placeholder's code.
func fieldOf(code string) (field, bool) {
	if n, ok := strings.CutPrefix(code, "LINK"); ok {
		i, err := strconv.Atoi(n)
		return fLink + field(i), err == nil && i >= 0
	}
	for i, c := range fieldCodes {
		if c == code {
			return field(i), true
		}
	}
	return 0, false
}

// substitute replaces each {{.Field}} of s by its placeholder. event says
// whether event fields are allowed.
func (p *placeholders) substitute(s string, event bool) (string, error) {
	var bad error
	out := substRE.ReplaceAllStringFunc(s, func(m string) string {
		name := substRE.FindStringSubmatch(m)[1]
		f, ok := templateFields[name]
		if !ok || (!event && f >= fEventTitle && f <= fEventURL) {
			if bad == nil {
				bad = fmt.Errorf("unknown field {{.%s}}", name)
			}
			return m
		}
		return p.of(f)
	})
	if bad == nil && strings.Contains(out, "{{") {
		bad = fmt.Errorf("template syntax other than {{.Field}} in %q", s)
	}
	return out, bad
}

var weekdaysJA = [...]string{"日", "月", "火", "水", "木", "金", "土"}

// formatEventTime formats t for a recipient: ja "2026年12月18日(金) 19:00",
// en "Fri, 18 Dec 2026 19:00 JST".
func formatEventTime(t time.Time, locale string, loc *time.Location) string {
	t = t.In(loc)
	if locale == "ja" {
		return fmt.Sprintf("%d年%d月%d日(%s) %02d:%02d", t.Year(), t.Month(), t.Day(), weekdaysJA[t.Weekday()], t.Hour(), t.Minute())
	}
	return t.Format("Mon, 2 Jan 2006 15:04 ") + zoneLabel(t)
}

// formatEventEnd formats the end of an event that starts at start: only the
// time (ja "21:00", en "21:00 JST") when it ends the same local day, so that
// "{{.Event.Start}} 〜 {{.Event.End}}" reads naturally; the full form otherwise.
func formatEventEnd(start, end time.Time, locale string, loc *time.Location) string {
	s, e := start.In(loc), end.In(loc)
	if s.Year() != e.Year() || s.YearDay() != e.YearDay() {
		return formatEventTime(end, locale, loc)
	}
	if locale == "ja" {
		return fmt.Sprintf("%02d:%02d", e.Hour(), e.Minute())
	}
	return e.Format("15:04 ") + zoneLabel(e)
}

// zoneLabel names t's zone: its abbreviation (JST, PST, GMT), or "UTC-03"
// for a zone the tz database gives only a numeric abbreviation.
func zoneLabel(t time.Time) string {
	name, off := t.Zone()
	if name == "" || name[0] == '+' || name[0] == '-' {
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
	return name
}

// eventZone is the zone an event happens in, for showing its own time to
// recipients elsewhere. Campaign files give starts_at with an offset only
// (RFC 3339), so it is the campaign's schedule time zone when that zone has
// the same offset at the start (Asia/Tokyo by default), Asia/Tokyo for
// +09:00, and otherwise a fixed zone named by the offset.
func eventZone(start time.Time, scheduleTZ string) *time.Location {
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
	return time.FixedZone(zoneLabel(time.Date(2000, 1, 1, 0, 0, 0, 0, time.FixedZone("", off))), off)
}

// abroad reports whether a recipient in loc keeps a different clock from
// the event's zone at the event's start.
func abroad(start time.Time, loc, event *time.Location) bool {
	if event == nil {
		return false
	}
	_, a := start.In(loc).Zone()
	_, b := start.In(event).Zone()
	return a != b
}

// formatEventStartAbroad is Event.Start: the start in the recipient's zone
// and, when the recipient lives on another clock than the event, also in
// the event's own zone, each labelled with its zone: en "Fri, 18 Dec 2026
// 02:00 PST / Fri, 18 Dec 2026 19:00 JST", ja "2026年12月18日(金) 02:00 PST /
// 2026年12月18日(金) 19:00 JST". Recipients on the event's clock see one time.
func formatEventStartAbroad(start time.Time, locale string, loc, event *time.Location) string {
	here := formatEventTime(start, locale, loc)
	if !abroad(start, loc, event) {
		return here
	}
	there := formatEventTime(start, locale, event)
	if locale == "ja" {
		here += " " + zoneLabel(start.In(loc))
		there += " " + zoneLabel(start.In(event))
	}
	return here + " / " + there
}

// formatEventEndAbroad is Event.End, shown like formatEventStartAbroad:
// "04:00 PST / 21:00 JST" for an evening that ends the day it starts in
// both zones.
func formatEventEndAbroad(start, end time.Time, locale string, loc, event *time.Location) string {
	here := formatEventEnd(start, end, locale, loc)
	if !abroad(start, loc, event) {
		return here
	}
	there := formatEventEnd(start, end, locale, event)
	if locale == "ja" {
		here += " " + zoneLabel(end.In(loc))
		there += " " + zoneLabel(end.In(event))
	}
	return here + " / " + there
}

// formatDate formats a calendar date: ja "2015年4月1日", en "1 April 2015".
func formatDate(t time.Time, locale string) string {
	if t.IsZero() {
		return ""
	}
	if locale == "ja" {
		return fmt.Sprintf("%d年%d月%d日", t.Year(), t.Month(), t.Day())
	}
	return t.Format("2 January 2006")
}

// yearsSince counts whole years from left to now ("" when unknown).
func yearsSince(left, now time.Time) string {
	if left.IsZero() {
		return ""
	}
	y := now.Year() - left.Year()
	if now.Month() < left.Month() || (now.Month() == left.Month() && now.Day() < left.Day()) {
		y--
	}
	if y < 0 {
		y = 0
	}
	return strconv.Itoa(y)
}

// fullName puts the names in the locale's order: ja "姓 名", en "Given Family".
func fullName(family, given, locale string) string {
	switch {
	case family == "":
		return given
	case given == "":
		return family
	case locale == "ja":
		return family + " " + given
	}
	return given + " " + family
}
