package campaigns

import (
	"fmt"
	"strings"
)

// Summary describes the schedule in one line, e.g.
// "at 2026-12-01 10:10 +09:00, window 09:00-18:00 weekdays, no jp holidays".
func (s Schedule) Summary() string {
	var b strings.Builder
	switch {
	case s.At != nil:
		b.WriteString("at " + s.At.Format("2006-01-02 15:04 -07:00"))
	case s.Cron != "":
		tz := s.Timezone
		if tz == "" {
			tz = DefaultTimezone
		}
		fmt.Fprintf(&b, "cron %q %s", s.Cron, tz)
	default:
		b.WriteString("manual (kizuna campaign start)")
	}
	if w := s.Window; w != nil {
		fmt.Fprintf(&b, ", window %s-%s", clock(w.StartMinute), clock(w.EndMinute))
		if w.WeekdaysOnly {
			b.WriteString(" weekdays")
		}
		if w.SkipHolidays {
			b.WriteString(", no jp holidays")
		}
	}
	return b.String()
}

func clock(m int) string {
	return fmt.Sprintf("%02d:%02d", m/60, m%60)
}
