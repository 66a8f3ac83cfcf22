package window

import (
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/campaigns"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func hm(h, m int) int { return h*60 + m }

var (
	office    = &campaigns.Window{StartMinute: hm(9, 0), EndMinute: hm(18, 0), WeekdaysOnly: true, SkipHolidays: true}
	evenings  = &campaigns.Window{StartMinute: hm(22, 0), EndMinute: hm(2, 0), WeekdaysOnly: true}
	everyDay  = &campaigns.Window{StartMinute: hm(9, 0), EndMinute: hm(18, 0)}
	wholeDays = &campaigns.Window{StartMinute: 0, EndMinute: 0, SkipHolidays: true}
)

func TestAllowedTokyo(t *testing.T) {
	t.Parallel()
	tokyo := mustZone(t, "Asia/Tokyo")
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, tokyo)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		w    *campaigns.Window
		when string
		want bool
	}{
		{nil, "2026-01-01 03:00", true},
		{office, "2026-12-01 10:10", true},  // Tuesday
		{office, "2026-12-01 09:00", true},  // start is inside
		{office, "2026-12-01 08:59", false}, // before
		{office, "2026-12-01 18:00", false}, // end is outside
		{office, "2026-12-05 10:00", false}, // Saturday
		{office, "2026-09-22 10:00", false}, // 国民の休日
		{office, "2025-05-06 10:00", false}, // 振替休日
		{office, "2027-03-22 10:00", false}, // 振替休日 for 春分の日 on Sunday
		{office, "2026-12-29 10:00", false}, // year-end break (a Tuesday)
		{office, "2027-01-04 10:00", true},  // first working day
		{everyDay, "2026-12-05 10:00", true},
		{everyDay, "2026-09-22 10:00", true},  // holidays not skipped
		{evenings, "2026-12-04 23:30", true},  // Friday night
		{evenings, "2026-12-05 01:30", true},  // still Friday's window
		{evenings, "2026-12-05 02:00", false}, // closed
		{evenings, "2026-12-05 22:30", false}, // Saturday's window
		{evenings, "2026-12-07 01:00", false}, // Sunday's window
		{evenings, "2026-12-07 22:00", true},  // Monday opens
		{evenings, "2026-12-07 12:00", false},
		{wholeDays, "2026-12-05 03:00", true},
		{wholeDays, "2027-01-02 12:00", false},
	}
	for _, c := range cases {
		if got := Allowed(c.w, tokyo, at(c.when)); got != c.want {
			t.Errorf("Allowed(%+v, %s JST) = %v, want %v", c.w, c.when, got, c.want)
		}
	}
	// The same instant is judged in the recipient's zone, not the server's.
	if !Allowed(office, tokyo, time.Date(2026, 12, 1, 1, 10, 0, 0, time.UTC)) {
		t.Error("01:10 UTC is 10:10 JST and should be inside")
	}
}

func TestNextTokyo(t *testing.T) {
	t.Parallel()
	tokyo := mustZone(t, "Asia/Tokyo")
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04:05", s, tokyo)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		w          *campaigns.Window
		from, want string
	}{
		{nil, "2026-12-05 03:00:00", "2026-12-05 03:00:00"},
		{office, "2026-12-01 10:10:07", "2026-12-01 10:10:07"}, // inside: t itself
		{office, "2026-12-01 07:00:00", "2026-12-01 09:00:00"},
		{office, "2026-12-01 18:00:00", "2026-12-02 09:00:00"},
		{office, "2026-12-04 19:00:00", "2026-12-07 09:00:00"}, // Friday evening → Monday
		{office, "2026-09-18 18:30:00", "2026-09-24 09:00:00"}, // silver week: 19–23 closed
		{office, "2026-12-28 18:00:00", "2027-01-04 09:00:00"}, // year-end break
		{office, "2027-03-19 20:00:00", "2027-03-23 09:00:00"}, // weekend + 振替休日
		{office, "2026-04-28 18:00:00", "2026-04-30 09:00:00"}, // 昭和の日
		{office, "2026-05-01 18:00:00", "2026-05-07 09:00:00"}, // Golden Week
		{evenings, "2026-12-05 01:00:00", "2026-12-05 01:00:00"},
		{evenings, "2026-12-05 03:00:00", "2026-12-07 22:00:00"}, // Sat 03:00 → Monday night
		{evenings, "2026-12-07 01:00:00", "2026-12-07 22:00:00"},
		{evenings, "2026-12-08 21:59:59", "2026-12-08 22:00:00"},
		{wholeDays, "2026-12-31 15:00:00", "2027-01-04 00:00:00"},
	}
	for _, c := range cases {
		got := Next(c.w, tokyo, at(c.from))
		if !got.Equal(at(c.want)) {
			t.Errorf("Next(%+v, %s) = %s, want %s", c.w, c.from, got.In(tokyo).Format(time.DateTime), c.want)
		}
		if !Allowed(c.w, tokyo, got) {
			t.Errorf("Next(%s) = %s is not allowed", c.from, got.In(tokyo))
		}
	}
}

// TestLosAngelesDST covers the spring-forward gap and the fall-back repeat.
func TestLosAngelesDST(t *testing.T) {
	t.Parallel()
	la := mustZone(t, "America/Los_Angeles")
	at := func(s string) time.Time {
		v, err := time.Parse("2006-01-02 15:04 -0700", s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	office := &campaigns.Window{StartMinute: hm(9, 0), EndMinute: hm(17, 0), WeekdaysOnly: true}
	// 2026-03-08 02:00 PST → 03:00 PDT; 2026-11-01 02:00 PDT → 01:00 PST.
	if !Allowed(office, la, at("2026-03-09 09:00 -0700")) || Allowed(office, la, at("2026-03-09 08:30 -0700")) {
		t.Error("Monday after spring-forward: 09:00 PDT must open the window, 08:30 PDT not")
	}
	if got, want := Next(office, la, at("2026-03-06 17:00 -0800")), at("2026-03-09 09:00 -0700"); !got.Equal(want) {
		t.Errorf("Next over the spring-forward weekend = %s, want %s", got, want)
	}
	if got, want := Next(office, la, at("2026-10-30 18:00 -0700")), at("2026-11-02 09:00 -0800"); !got.Equal(want) {
		t.Errorf("Next over the fall-back weekend = %s, want %s", got, want)
	}
	// A window inside the skipped hour is empty that day and opens the next.
	gap := &campaigns.Window{StartMinute: hm(2, 0), EndMinute: hm(2, 45)}
	if got, want := Next(gap, la, at("2026-03-08 00:30 -0800")), at("2026-03-09 02:00 -0700"); !got.Equal(want) {
		t.Errorf("Next into the DST gap = %s, want %s", got, want)
	}
	// The repeated hour 01:00–02:00 on fall-back day is inside both times.
	repeat := &campaigns.Window{StartMinute: hm(1, 0), EndMinute: hm(2, 0)}
	for _, s := range []string{"2026-11-01 01:30 -0700", "2026-11-01 01:30 -0800"} {
		if !Allowed(repeat, la, at(s)) {
			t.Errorf("%s should be inside 01:00–02:00", s)
		}
	}
	if Allowed(repeat, la, at("2026-11-01 02:00 -0800")) {
		t.Error("02:00 PST is after the window")
	}
	// A window crossing midnight across the fall-back night.
	night := &campaigns.Window{StartMinute: hm(23, 0), EndMinute: hm(1, 30)}
	if !Allowed(night, la, at("2026-11-01 01:15 -0800")) {
		t.Error("01:15 PST after midnight belongs to Saturday's night window")
	}
	if got, want := Next(night, la, at("2026-11-01 01:30 -0800")), at("2026-11-01 23:00 -0800"); !got.Equal(want) {
		t.Errorf("Next after the night window = %s, want %s", got, want)
	}
	// Japanese holidays apply to the recipient's local date, here in LA.
	jp := &campaigns.Window{StartMinute: hm(9, 0), EndMinute: hm(17, 0), SkipHolidays: true}
	if Allowed(jp, la, at("2026-09-22 10:00 -0700")) {
		t.Error("2026-09-22 is a Japanese holiday in the LA recipient's calendar too")
	}
}

// TestNextIsEarliest checks Next against a minute-by-minute scan.
func TestNextIsEarliest(t *testing.T) {
	t.Parallel()
	for _, zone := range []string{"Asia/Tokyo", "America/Los_Angeles"} {
		tz := mustZone(t, zone)
		for _, w := range []*campaigns.Window{office, evenings, everyDay, wholeDays} {
			start := time.Date(2026, 10, 30, 0, 0, 0, 0, tz)
			for from := start; from.Before(start.AddDate(0, 0, 4)); from = from.Add(97 * time.Minute) {
				got := Next(w, tz, from)
				scan := from
				for !Allowed(w, tz, scan) {
					scan = scan.Add(time.Minute).Truncate(time.Minute)
				}
				if !got.Equal(scan) {
					t.Errorf("%s %+v from %s: Next = %s, scan = %s", zone, w, from, got, scan)
				}
			}
		}
	}
}
