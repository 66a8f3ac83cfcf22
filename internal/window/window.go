// Package window decides when a campaign may send to a recipient: inside
// its sending window (hours of the day, optionally weekdays only, optionally
// not on Japanese public holidays or 12/29–1/3) in the recipient's own time
// zone. A delivery outside its window waits until Next.
package window

import (
	"time"

	"github.com/kizuna-alumni/kizuna/campaigns"
)

// searchDays bounds Next's search. The longest closed stretch a valid window
// can meet is the year-end break plus a weekend and Golden Week-like runs
// of holidays: about ten days.
const searchDays = 60

// Allowed reports whether instant t lies inside w in time zone tz. A nil
// window always allows; a nil tz means UTC.
//
// Hours run from StartMinute (inclusive) to EndMinute (exclusive) in local
// wall-clock time; equal minutes mean the whole day. A window that crosses
// midnight (22:00-02:00) belongs to the day it opens on: with weekdays
// only, Friday 23:00 and Saturday 01:00 are inside (Friday's window), Monday
// 01:00 is not (Sunday's).
func Allowed(w *campaigns.Window, tz *time.Location, t time.Time) bool {
	if w == nil {
		return true
	}
	if tz == nil {
		tz = time.UTC
	}
	local := t.In(tz)
	minute := local.Hour()*60 + local.Minute()
	day := local
	switch {
	case w.StartMinute == w.EndMinute:
	case w.StartMinute < w.EndMinute:
		if minute < w.StartMinute || minute >= w.EndMinute {
			return false
		}
	case minute >= w.StartMinute:
	case minute < w.EndMinute:
		day = local.AddDate(0, 0, -1) // the tail of yesterday's window
	default:
		return false
	}
	return dayAllowed(w, day)
}

// Next returns the earliest instant at or after t inside w in time zone tz:
// t itself when it is inside. A nil window returns t. When no window opens
// within 60 days (impossible for a window that campaigns validation
// accepts), it returns the zero time.
func Next(w *campaigns.Window, tz *time.Location, t time.Time) time.Time {
	if w == nil || Allowed(w, tz, t) {
		return t
	}
	if tz == nil {
		tz = time.UTC
	}
	local := t.In(tz)
	y, m, d := local.Date()
	// Start one day back: a window that crosses midnight may have opened
	// yesterday and still be open.
	for i := -1; i <= searchDays; i++ {
		day := time.Date(y, m, d+i, 12, 0, 0, 0, tz)
		if !dayAllowed(w, day) {
			continue
		}
		open, closeAt := bounds(w, tz, day)
		if !open.Before(closeAt) || !closeAt.After(t) {
			continue // empty (a DST gap) or already over
		}
		// Wall-clock windows and instants disagree only around DST changes;
		// step a minute at a time through such a seam.
		for at := maxTime(open, t); at.Before(closeAt); at = at.Add(time.Minute).Truncate(time.Minute) {
			if Allowed(w, tz, at) {
				return at
			}
		}
	}
	return time.Time{}
}

// bounds is the instant the window of the given local day opens and the
// instant it closes. A nonexistent wall-clock time (in a DST gap) is moved
// forward by the gap, as time.Date does.
func bounds(w *campaigns.Window, tz *time.Location, day time.Time) (open, closeAt time.Time) {
	y, m, d := day.Date()
	open = time.Date(y, m, d, 0, w.StartMinute, 0, 0, tz)
	switch {
	case w.StartMinute == w.EndMinute:
		open = time.Date(y, m, d, 0, 0, 0, 0, tz)
		closeAt = time.Date(y, m, d+1, 0, 0, 0, 0, tz)
	case w.StartMinute < w.EndMinute:
		closeAt = time.Date(y, m, d, 0, w.EndMinute, 0, 0, tz)
	default:
		closeAt = time.Date(y, m, d+1, 0, w.EndMinute, 0, 0, tz)
	}
	return open, closeAt
}

// dayAllowed applies the day rules to the local calendar date of day.
func dayAllowed(w *campaigns.Window, day time.Time) bool {
	if w.WeekdaysOnly {
		if wd := day.Weekday(); wd == time.Saturday || wd == time.Sunday {
			return false
		}
	}
	if w.SkipHolidays {
		if _, ok := Holiday(day); ok || YearEnd(day) {
			return false
		}
	}
	return true
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
