package campaigns

// The schedule section: at, cron, time zone, max_late and the send window.

import (
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// cronParser accepts exactly the 5-field specs of SPEC.md, the same parser
// the scheduler uses: descriptors such as @daily or @every are refused.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

func (d *decoder) schedule(n *node) Schedule {
	s := Schedule{Timezone: DefaultTimezone, MaxLate: DefaultMaxLate}
	m := d.fields(n, scheduleKeys)
	if m == nil {
		return s
	}
	at, cr := m.get("at"), m.get("cron")
	if present(at) && present(cr) {
		d.errf(cr, "give either at (one-off) or cron (recurring), not both")
	}
	if present(at) {
		s.At = d.instant(at)
	}
	if v := m.get("timezone"); present(v) {
		if tz, ok := d.str(v); ok {
			if _, err := time.LoadLocation(tz); err != nil || tz == "" || tz == "Local" {
				d.errf(v, "unknown time zone %q (use an IANA name such as Asia/Tokyo)", tz)
			} else {
				s.Timezone = tz
			}
		}
	}
	if present(cr) {
		if spec, ok := d.str(cr); ok {
			spec = strings.Join(strings.Fields(spec), " ")
			switch {
			case strings.HasPrefix(spec, "@"):
				d.errf(cr, "cron %q: descriptors are not accepted; write 5 fields (minute hour day month weekday), e.g. \"10 10 1 * *\"", spec)
			case strings.Contains(spec, "TZ="):
				d.errf(cr, "cron %q: set the time zone with schedule.timezone, not in the spec", spec)
			case len(strings.Fields(spec)) != 5:
				d.errf(cr, "cron %q has %d fields; write exactly 5 (minute hour day month weekday), e.g. \"10 10 1 * *\"", spec, len(strings.Fields(spec)))
			default:
				if _, err := cronParser.Parse(spec); err != nil {
					d.errf(cr, "cron %q: %v", spec, err)
				} else {
					s.Cron = spec
				}
			}
		}
	}
	if v := m.get("max_late"); present(v) {
		if dur, ok := d.duration(v); ok {
			s.MaxLate = dur
		}
	}
	s.Window = d.window(m.get("window"))
	return s
}

func (d *decoder) window(n *node) *Window {
	m := d.fields(n, windowKeys)
	if m == nil {
		return nil
	}
	// Without hours the window is the whole day (days or holidays only).
	w := &Window{StartMinute: 0, EndMinute: 24 * 60}
	if v := m.get("hours"); present(v) {
		if s, ok := d.str(v); ok {
			from, to, found := strings.Cut(strings.ReplaceAll(s, " ", ""), "-")
			a, okA := parseClock(from)
			b, okB := parseClock(to)
			switch {
			case !found || !okA || !okB || a == 24*60:
				d.errf(v, "bad hours %q (want \"HH:MM-HH:MM\", e.g. \"09:00-18:00\")", s)
			case a == b || (a == 0 && b == 24*60):
				d.errf(v, "hours %q: the window must start and end at different times (leave hours out to allow the whole day)", s)
			default:
				w.StartMinute, w.EndMinute = a, b
			}
		}
	}
	if v := m.get("days"); present(v) {
		w.WeekdaysOnly = d.oneOf(v, "every", "every", "weekdays") == "weekdays"
	}
	if v := m.get("skip_holidays"); present(v) {
		if v.kind == scalarNode && v.tag == tagBool && v.text == "false" {
			w.SkipHolidays = false
		} else {
			w.SkipHolidays = d.oneOf(v, "", "jp") == "jp"
		}
	}
	return w
}
