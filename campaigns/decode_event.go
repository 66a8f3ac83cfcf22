package campaigns

// The event section: an invitation's event, its RSVP and reminders.

import (
	"slices"
	"strings"
	"time"
)

func (d *decoder) eventBlock(n *node) *Event {
	m := d.fields(n, eventKeys)
	if m == nil {
		return nil
	}
	ev := &Event{}
	if v := m.get("title"); present(v) {
		ev.Title = strings.TrimSpace(d.plain(v))
		if ev.Title == "" && v.kind == scalarNode {
			d.errf(v, "must not be empty")
		}
	} else {
		d.missing(m, "title", "")
	}
	var okStart, okEnd bool
	if v := m.get("starts_at"); present(v) {
		if t := d.instant(v); t != nil {
			ev.StartsAt, okStart = *t, true
		}
	} else {
		d.missing(m, "starts_at", "e.g. 2026-12-18T19:00:00+09:00")
	}
	if v := m.get("ends_at"); present(v) {
		if t := d.instant(v); t != nil {
			ev.EndsAt, okEnd = *t, true
		}
	} else {
		d.missing(m, "ends_at", "e.g. 2026-12-18T21:00:00+09:00")
	}
	if okStart && okEnd && !ev.StartsAt.Before(ev.EndsAt) {
		d.errf(m.get("ends_at"), "the event must end after it starts (starts_at %s)", ev.StartsAt.Format(time.RFC3339))
	}
	if v := m.get("location"); present(v) {
		ev.Location = strings.TrimSpace(d.plain(v))
	}
	if v := m.get("url"); present(v) {
		ev.URL = strings.TrimSpace(d.plain(v))
		if err := checkURL(ev.URL); err != nil {
			d.errf(v, "%v", err)
		}
	}
	if ev.Location == "" && ev.URL == "" && !present(m.get("location")) && !present(m.get("url")) {
		d.missing(m, "location", "where it takes place; or an url for an online event")
	}
	if v := m.get("capacity"); present(v) {
		ev.Capacity, _ = d.integer(v, 0, 1_000_000)
	}
	if v := m.get("rsvp_deadline"); present(v) {
		if t := d.instant(v); t != nil {
			ev.RSVPDeadline = t
			if okStart && t.After(ev.StartsAt) {
				d.errf(v, "the RSVP deadline is after the event starts (%s)", ev.StartsAt.Format(time.RFC3339))
			}
		}
	}
	for _, it := range d.seq(m.get("reminders")) {
		if dur, ok := d.duration(it); ok {
			if slices.Contains(ev.Reminders, dur) {
				d.errf(it, "reminder %s is listed twice", FormatDuration(dur))
				continue
			}
			ev.Reminders = append(ev.Reminders, dur)
		}
	}
	ev.Cancelled = d.boolean(m.get("cancelled"), false)
	return ev
}

// checkEventSchedule relates the invitation's schedule to the event.
func (d *decoder) checkEventSchedule(r *node, c *Campaign) {
	sch := r.get("schedule")
	if c.Schedule.Cron != "" {
		d.errf(sch.get("cron"), "an event invitation is sent once: use schedule.at (or no schedule and `kizuna campaign start`), not cron")
	}
	at := c.Schedule.At
	if at == nil || c.Event.StartsAt.IsZero() {
		return
	}
	atNode := sch.get("at")
	if !at.Before(c.Event.StartsAt) {
		d.errf(atNode, "the invitation would be sent after the event starts (%s)", c.Event.StartsAt.Format(time.RFC3339))
		return
	}
	if dl := c.Event.RSVPDeadline; dl != nil && !at.Before(*dl) {
		d.errf(atNode, "the invitation would be sent after the RSVP deadline (%s)", dl.Format(time.RFC3339))
	}
	for i, rem := range c.Event.Reminders {
		if !c.Event.StartsAt.Add(-rem).After(*at) {
			n := r.get("event").get("reminders")
			if present(n) && n.kind == seqNode && i < len(n.items) {
				n = n.items[i]
			}
			d.errf(n, "reminder %s before the event falls before the invitation is sent (schedule.at %s)", FormatDuration(rem), at.Format(time.RFC3339))
		}
	}
}
