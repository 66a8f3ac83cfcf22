package classify

import (
	"net/url"
	"strconv"
	"strings"

	ics "github.com/arran4/golang-ical"
)

// calendarReply finds an iMIP reply (RFC 6047 §2.4): a text/calendar part
// (or an .ics attachment: application/ics, Outlook's) whose calendar has
// METHOD:REPLY, and reads its event's UID, SEQUENCE and the answering
// ATTENDEE with its PARTSTAT (RFC 5546 §3.2.3). A REPLY names one
// attendee; when a client lists several, the one who sent the mail wins,
// else the first that answered.
func calendarReply(root *part, from string) (*Calendar, bool) {
	var found *Calendar
	root.walk(func(p *part) bool {
		if !isCalendarPart(p) {
			return true
		}
		if m := strings.ToUpper(p.params["method"]); m != "" && m != "REPLY" {
			return true
		}
		if c, ok := parseReply(p.text(), from); ok {
			found = c
			return false
		}
		return true
	})
	return found, found != nil
}

func isCalendarPart(p *part) bool {
	switch p.mediaType {
	case "text/calendar", "application/ics", "text/x-vcalendar":
		return true
	case "application/octet-stream":
		name := strings.ToLower(p.params["name"])
		return strings.HasSuffix(name, ".ics")
	}
	return false
}

// Bounds on the calendar objects parseReply reads.
const (
	maxCalendar   = 256 << 10
	maxComponents = 64
)

// parseReply reads one iCalendar object with golang-ical.
func parseReply(text, from string) (*Calendar, bool) {
	// A REPLY is a few kilobytes with a handful of components (RFC 5546
	// §3.2.3: one VEVENT, perhaps a VTIMEZONE); golang-ical's parser costs
	// more than linear time in nested components, so larger objects are
	// not read.
	if len(text) > maxCalendar || strings.Count(text, "BEGIN:") > maxComponents {
		return nil, false
	}
	cal, err := ics.ParseCalendar(strings.NewReader(text))
	if err != nil || cal == nil {
		return nil, false
	}
	method := ""
	for _, p := range cal.CalendarProperties {
		if strings.EqualFold(p.IANAToken, string(ics.PropertyMethod)) {
			method = strings.ToUpper(strings.TrimSpace(p.Value))
		}
	}
	if method != "REPLY" {
		return nil, false
	}
	for _, ev := range cal.Events() {
		uid := strings.TrimSpace(ev.Id())
		if uid == "" {
			continue
		}
		c := &Calendar{UID: uid}
		if p := ev.GetProperty(ics.ComponentPropertySequence); p != nil {
			if n, err := strconv.Atoi(strings.TrimSpace(p.Value)); err == nil && n >= 0 {
				c.Sequence = n
			}
		}
		var pick *ics.Attendee
		for _, a := range ev.Attendees() {
			addr := calAddress(a.Value)
			ps := strings.ToUpper(string(a.ParticipationStatus()))
			if addr == from && from != "" {
				pick = a
				break
			}
			if pick == nil || (strings.ToUpper(string(pick.ParticipationStatus())) == "NEEDS-ACTION" && ps != "NEEDS-ACTION") {
				pick = a
			}
		}
		if pick == nil {
			continue
		}
		c.Attendee = calAddress(pick.Value)
		c.PartStat = strings.ToUpper(strings.TrimSpace(string(pick.ParticipationStatus())))
		if c.Attendee == "" || c.PartStat == "" {
			continue
		}
		return c, true
	}
	return nil, false
}

// calAddress turns a CAL-ADDRESS (RFC 5545 §3.3.3, a mailto URI) into a
// plain lower-case address: the scheme dropped in any case, the
// percent-encoding of RFC 6068 (%22 around a quoted local part) undone.
func calAddress(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 7 && strings.EqualFold(v[:7], "mailto:") {
		v = v[7:]
	}
	if u, err := url.PathUnescape(v); err == nil {
		v = u
	}
	return strings.ToLower(strings.TrimSpace(v))
}
