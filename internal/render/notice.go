package render

import (
	"fmt"
	"net/url"

	"github.com/kizuna-alumni/kizuna/campaigns"
)

// Notices: what a message of an event campaign says (Options.Notice). The
// worker renders a delivery of a notice run with its deliveries.notice, and
// a delivery of another run by the run's kind: send → NoticeInvitation,
// reminder → NoticeReminder, update → NoticeUpdate, cancellation →
// NoticeCancellation. The strings are those stored in deliveries.notice and
// the runs package's Notice constants: they must stay equal.
const (
	// NoticeInvitation is the campaign's own subject and body (the
	// invitation, or a newsletter).
	NoticeInvitation = ""
	// NoticeReminder reminds those who answered yes (event.reminders).
	NoticeReminder = "reminder"
	// NoticeUpdate tells that the event's time, place, title or page changed.
	NoticeUpdate = "update"
	// NoticeCancellation tells that the event is cancelled.
	NoticeCancellation = "cancellation"
	// NoticeConfirmYes confirms a "yes" that has a place.
	NoticeConfirmYes = "confirm_yes"
	// NoticeConfirmNo confirms a "no".
	NoticeConfirmNo = "confirm_no"
	// NoticeConfirmMaybe confirms a "maybe".
	NoticeConfirmMaybe = "confirm_maybe"
	// NoticeWaitlisted confirms a "yes" that went to the waiting list.
	NoticeWaitlisted = "waitlisted"
	// NoticePromoted tells someone on the waiting list that a place opened
	// up and they are now on the guest list.
	NoticePromoted = "promoted"
)

// Notices lists every notice but NoticeInvitation.
var Notices = []string{
	NoticeReminder, NoticeUpdate, NoticeCancellation, NoticeConfirmYes,
	NoticeConfirmNo, NoticeConfirmMaybe, NoticeWaitlisted, NoticePromoted,
}

// iTIP methods (RFC 5546 §1.4) and participation statuses (RFC 5545
// §3.2.12) that Kizuna writes.
const (
	methodRequest = "REQUEST"
	methodCancel  = "CANCEL"
	methodPublish = "PUBLISH"

	partstatNeedsAction = "NEEDS-ACTION"
	partstatAccepted    = "ACCEPTED"
	partstatTentative   = "TENTATIVE"
)

// calendar is the iCalendar object a message carries: its METHOD, and
// the recipient's ATTENDEE line.
type calendar struct {
	method string // METHOD, and the text/calendar part's method parameter (RFC 6047 §2.4)
	// attendee: the recipient is written as the ATTENDEE (not in PUBLISH).
	attendee bool
	// partstat is the ATTENDEE's PARTSTAT; "" writes none.
	partstat string
	// rsvp: RSVP=TRUE (a reply is wanted), else RSVP=FALSE.
	rsvp bool
	// status is the VEVENT's STATUS (RFC 5545 §3.8.1.11).
	status string
}

// The calendar objects (RFC 5546 §3.2): an invitation or a change asks
// for an answer; a confirmation carries the answer given, which can still
// be changed from the calendar; a cancellation cancels; PUBLISH is the
// "add to calendar" download, with no one to answer.
var (
	calRequest   = &calendar{method: methodRequest, attendee: true, partstat: partstatNeedsAction, rsvp: true, status: "CONFIRMED"}
	calAccepted  = &calendar{method: methodRequest, attendee: true, partstat: partstatAccepted, rsvp: true, status: "CONFIRMED"}
	calTentative = &calendar{method: methodRequest, attendee: true, partstat: partstatTentative, rsvp: true, status: "CONFIRMED"}
	calCancel    = &calendar{method: methodCancel, attendee: true, status: "CANCELLED"}
	calPublish   = &calendar{method: methodPublish, status: "CONFIRMED"}
	// calPublishCancelled is the download of a cancelled event.
	calPublishCancelled = &calendar{method: methodPublish, status: "CANCELLED"}
)

// calendarFor returns the calendar object a notice of event e carries:
// nil for none (a reminder, a "no", a place on the waiting list: the
// calendar has nothing to change) and for every message of a campaign
// without an event (e nil). Once the event is cancelled (event.cancelled),
// every object a message carries is the cancellation, so that no message
// of that version can put the event back into a calendar. An unknown
// notice is an error.
func calendarFor(notice string, e *campaigns.Event) (*calendar, error) {
	var cal *calendar
	switch notice {
	case NoticeInvitation, NoticeUpdate:
		cal = calRequest
	case NoticeConfirmYes, NoticePromoted:
		cal = calAccepted
	case NoticeConfirmMaybe:
		cal = calTentative
	case NoticeCancellation:
		cal = calCancel
	case NoticeReminder, NoticeConfirmNo, NoticeWaitlisted:
	default:
		return nil, fmt.Errorf("unknown notice %q", notice)
	}
	switch {
	case e == nil:
		return nil, nil
	case e.Cancelled && cal != nil:
		return calCancel, nil
	}
	return cal, nil
}

// mapsSearchURL is a Google Maps search for a place (the Maps URLs API:
// https://developers.google.com/maps/documentation/urls/get-started),
// which opens the app on phones.
func mapsSearchURL(place string) string {
	return "https://www.google.com/maps/search/?api=1&query=" + url.QueryEscape(place)
}
