package render

import (
	"cmp"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/address"
)

// appendICS writes the calendar object cal of s (RFC 5545, with the iTIP
// METHOD of RFC 5546): times in UTC, a UID stable per event (so that an
// update, a confirmation or a cancellation changes the event the
// invitation created), the campaign's SEQUENCE, the inbound (else reply)
// address as ORGANIZER (so that calendar answers come back to Kizuna) and, except in
// PUBLISH, the recipient as the one ATTENDEE with cal's PARTSTAT and RSVP.
func (p *Prepared) appendICS(dst []byte, s *state, cal *calendar) []byte {
	e := p.c.Event
	line := func(l string) { dst = appendFolded(dst, l) }
	line("BEGIN:VCALENDAR")
	line("PRODID:-//Kizuna//Kizuna alumni mail//EN")
	line("VERSION:2.0")
	line("CALSCALE:GREGORIAN")
	line("METHOD:" + cal.method)
	line("BEGIN:VEVENT")
	line("UID:" + p.c.ID + "@" + p.fromDomain)
	line("SEQUENCE:" + strconv.Itoa(e.Sequence))
	line("DTSTAMP:" + icsTime(s.now))
	line("DTSTART:" + icsTime(e.StartsAt))
	line("DTEND:" + icsTime(e.EndsAt))
	line("SUMMARY:" + icsText(e.Title))
	if e.Location != "" {
		line("LOCATION:" + icsText(e.Location))
	}
	if e.URL != "" {
		line("URL:" + cleanHeader(e.URL))
	}
	// The ORGANIZER is the same in every message of the event: calendar
	// clients apply an update or a cancellation only when it comes from the
	// organizer of the event they hold (RFC 5546 §3.2.2.2). With an inbound
	// address, that address itself: iMIP replies (RFC 6047) reach Kizuna
	// and are matched by UID and ATTENDEE, not by a per-delivery token.
	organizer := p.from.Address
	switch {
	case p.inLocal != "":
		organizer = p.inLocal + "@" + p.inDomain
	case p.c.ReplyTo != "":
		organizer = p.c.ReplyTo
		if a, err := mail.ParseAddress(organizer); err == nil {
			organizer = a.Address // reply_to may carry a display name
		}
	}
	line("ORGANIZER;CN=" + icsParam(p.c.Company.Name) + ":" + mailtoURI(organizer))
	if cal.attendee {
		attendee := "ATTENDEE;ROLE=REQ-PARTICIPANT"
		if cal.partstat != "" {
			attendee += ";PARTSTAT=" + cal.partstat
		}
		if cal.rsvp {
			attendee += ";RSVP=TRUE"
		} else {
			attendee += ";RSVP=FALSE"
		}
		if n := s.v[fFullName]; n != "" {
			attendee += ";CN=" + icsParam(n)
		}
		line(attendee + ":" + mailtoURI(cmp.Or(s.r.SendTo, s.r.Email)))
	}
	line("STATUS:" + cal.status)
	line("TRANSP:OPAQUE")
	line("END:VEVENT")
	line("END:VCALENDAR")
	return dst
}

// EventICS returns the event as a calendar object to download and add
// to a calendar ("add to calendar" on the RSVP page): METHOD:PUBLISH
// (RFC 5546 §3.2.1) with the same UID and SEQUENCE as the invitation and
// its notices, so that it stays the same event, and no ATTENDEE (no one
// is asked to answer it); STATUS:CANCELLED once the event is cancelled.
// r gives the ORGANIZER's reply address and the DTSTAMP's clock as for a
// message. It returns "" for a campaign without an event.
func (p *Prepared) EventICS(r Recipient) string {
	e := p.c.Event
	if e == nil {
		return ""
	}
	cal := calPublish
	if e.Cancelled {
		cal = calPublishCancelled
	}
	return string(p.appendICS(nil, p.begin(r), cal))
}

// GoogleCalendarURL returns the Google Calendar "add event" link for e
// (the de-facto template link: action=TEMPLATE, text, dates as
// UTC start/end, location, details), each value query-escaped;
// details is free text shown as the event's description ("" for none).
func GoogleCalendarURL(e *campaigns.Event, details string) string {
	var b strings.Builder
	b.WriteString("https://calendar.google.com/calendar/render?action=TEMPLATE&text=")
	b.WriteString(url.QueryEscape(e.Title))
	b.WriteString("&dates=" + icsTime(e.StartsAt) + "/" + icsTime(e.EndsAt))
	if e.Location != "" {
		b.WriteString("&location=" + url.QueryEscape(e.Location))
	}
	if details != "" {
		b.WriteString("&details=" + url.QueryEscape(details))
	}
	return b.String()
}

// mailtoURI writes an address as the mailto URI of a CAL-ADDRESS (RFC 5545
// §3.3.3): a local part that is not a dot-atom is quoted as SMTP needs it
// (RFC 5321 §4.1.2, internal/address), and every octet that a URI cannot
// carry as it is (the quotes, "%", "/", "?", "#", …) is percent-encoded, as
// RFC 6068 §2 writes a quoted-string: "taro..yamada"@docomo.ne.jp becomes
// mailto:%22taro..yamada%22@docomo.ne.jp. The "@" before the domain stays.
func mailtoURI(addr string) string {
	addr = address.Quote(cleanHeader(addr))
	at := strings.LastIndexByte(addr, '@')
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len("mailto:")+len(addr)+8)
	b = append(b, "mailto:"...)
	for i := 0; i < len(addr); i++ {
		c := addr[i]
		if isMailtoChar(c) || i == at {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hex[c>>4], hex[c&15])
	}
	return string(b)
}

// isMailtoChar reports whether c may stand unencoded in an address in a
// mailto URI: RFC 3986 unreserved characters and some of the
// sub-delims RFC 6068 §2 allows there. "&", "," and ";" are encoded too,
// though allowed: they separate header fields, addresses and iCalendar
// parameters, and a decoder reads them back either way.
func isMailtoChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("-._~!$'()*+=", c) >= 0
}

func icsTime(t time.Time) string { return t.UTC().Format("20060102T150405Z") }

// icsText escapes a TEXT value (RFC 5545 §3.3.11).
func icsText(s string) string {
	r := strings.NewReplacer(`\`, `\\`, ";", `\;`, ",", `\,`, "\r\n", `\n`, "\n", `\n`, "\r", `\n`)
	return cleanHeader(r.Replace(s))
}

// icsParam quotes a parameter value (RFC 5545 §3.2); DQUOTE cannot appear.
func icsParam(s string) string {
	s = strings.ReplaceAll(cleanHeader(s), `"`, "'")
	if strings.ContainsAny(s, ":;,") {
		return `"` + s + `"`
	}
	return s
}

// appendFolded writes a content line folded at 75 octets (RFC 5545 §3.1),
// never inside a UTF-8 sequence, with CRLF line ends.
func appendFolded(dst []byte, l string) []byte {
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
