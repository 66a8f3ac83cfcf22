package render

import (
	"cmp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kizuna-alumni/kizuna/internal/token"
)

// appendICS writes the event invitation of s (RFC 5545 with the iTIP
// METHOD:REQUEST of RFC 5546): times in UTC, a UID stable per event, the
// campaign's SEQUENCE, the reply address as ORGANIZER (so that calendar
// answers come back to Kizuna) and the recipient as the one ATTENDEE.
func (p *Prepared) appendICS(dst []byte, s *state) []byte {
	e := p.c.Event
	line := func(l string) { dst = appendFolded(dst, l) }
	line("BEGIN:VCALENDAR")
	line("PRODID:-//Kizuna//Kizuna alumni mail//EN")
	line("VERSION:2.0")
	line("CALSCALE:GREGORIAN")
	line("METHOD:REQUEST")
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
	organizer := p.from.Address
	switch {
	case p.inLocal != "":
		organizer = p.inboundAddr("+", token.Reply, s.r.DeliveryID)
	case p.c.ReplyTo != "":
		organizer = p.c.ReplyTo
	}
	line("ORGANIZER;CN=" + icsParam(p.c.Company.Name) + ":mailto:" + cleanHeader(organizer))
	attendee := "ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE"
	if n := s.v[fFullName]; n != "" {
		attendee += ";CN=" + icsParam(n)
	}
	line(attendee + ":mailto:" + cleanHeader(cmp.Or(s.r.SendTo, s.r.Email)))
	line("STATUS:CONFIRMED")
	line("TRANSP:OPAQUE")
	line("END:VEVENT")
	line("END:VCALENDAR")
	return dst
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
