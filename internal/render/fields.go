package render

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
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
	fBreak // a line break inside a signature
	numFields
	// fLink is the first link; link i is fLink+i.
	fLink = numFields
)

// fieldCodes are the alphanumeric names used inside placeholders.
var fieldCodes = [numFields]string{
	"FAMILYNAME", "GIVENNAME", "FULLNAME", "DEPARTMENT", "JOINEDON", "LEFTON",
	"YEARSSINCELEFT", "EMAIL", "EVENTTITLE", "EVENTSTART", "EVENTEND",
	"EVENTLOCATION", "EVENTURL", "GREETING", "SUBJECT", "UNSUB", "OPEN", "RSVP",
	"COMPANYNAME", "COMPANYADDRESS", "COMPANYCONTACT", "COMPANYURL", "PRIVACYURL", "LOGO", "BR",
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
	case fEventURL, fUnsubscribe, fOpen, fRSVP, fCompanyURL, fPrivacyURL, fLogo:
		return true
	}
	return f >= fLink
}

// isStatic reports whether f is the same for every recipient of a campaign
// version, so that it is resolved once in Prepare.
func isStatic(f field) bool {
	switch f {
	case fEventTitle, fEventLocation, fEventURL, fCompanyName, fCompanyAddress,
		fCompanyContact, fCompanyURL, fPrivacyURL, fLogo, fBreak:
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
	return t.Format("Mon, 2 Jan 2006 15:04 MST")
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
	return e.Format("15:04 MST")
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
