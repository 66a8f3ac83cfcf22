package window

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

type monthDay struct {
	m time.Month
	d int
}

func date(y int, md monthDay) time.Time { return time.Date(y, md.m, md.d, 0, 0, 0, 0, time.UTC) }

// holidays lists the holidays of year y by asking Holiday for every day.
func holidays(y int) map[monthDay]string {
	h := map[monthDay]string{}
	for d := time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() == y; d = d.AddDate(0, 0, 1) {
		if name, ok := Holiday(d); ok {
			h[monthDay{d.Month(), d.Day()}] = name
		}
	}
	return h
}

// listYear renders every holiday of year y as "MM-DD name", sorted.
func listYear(y int) string {
	var out []string
	for md, name := range holidays(y) {
		out = append(out, fmt.Sprintf("%02d-%02d %s", md.m, md.d, name))
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// TestHolidayLists compares whole years with the Cabinet Office (内閣府)
// lists of 令和6–8年 (2024–2026).
func TestHolidayLists(t *testing.T) {
	t.Parallel()
	want := map[int]string{
		2024: `01-01 元日
01-08 成人の日
02-11 建国記念の日
02-12 振替休日
02-23 天皇誕生日
03-20 春分の日
04-29 昭和の日
05-03 憲法記念日
05-04 みどりの日
05-05 こどもの日
05-06 振替休日
07-15 海の日
08-11 山の日
08-12 振替休日
09-16 敬老の日
09-22 秋分の日
09-23 振替休日
10-14 スポーツの日
11-03 文化の日
11-04 振替休日
11-23 勤労感謝の日`,
		2025: `01-01 元日
01-13 成人の日
02-11 建国記念の日
02-23 天皇誕生日
02-24 振替休日
03-20 春分の日
04-29 昭和の日
05-03 憲法記念日
05-04 みどりの日
05-05 こどもの日
05-06 振替休日
07-21 海の日
08-11 山の日
09-15 敬老の日
09-23 秋分の日
10-13 スポーツの日
11-03 文化の日
11-23 勤労感謝の日
11-24 振替休日`,
		2026: `01-01 元日
01-12 成人の日
02-11 建国記念の日
02-23 天皇誕生日
03-20 春分の日
04-29 昭和の日
05-03 憲法記念日
05-04 みどりの日
05-05 こどもの日
05-06 振替休日
07-20 海の日
08-11 山の日
09-21 敬老の日
09-22 国民の休日
09-23 秋分の日
10-12 スポーツの日
11-03 文化の日
11-23 勤労感謝の日`,
	}
	for y, w := range want {
		if got := listYear(y); got != w {
			t.Errorf("holidays of %d:\n%s\nwant:\n%s", y, got, w)
		}
	}
}

// TestKnownHolidayDates checks single dates of later years.
func TestKnownHolidayDates(t *testing.T) {
	t.Parallel()
	cases := []struct {
		date, name string
	}{
		{"2027-03-21", "春分の日"}, // a Sunday
		{"2027-03-22", "振替休日"},
		{"2027-01-11", "成人の日"},
		{"2031-03-21", "春分の日"},
		{"2035-03-21", "春分の日"},
		{"2028-09-22", "秋分の日"}, // leap years until 2044: 9/22
		{"2029-09-23", "秋分の日"},
		{"2032-09-20", "敬老の日"},
		{"2032-09-21", "国民の休日"}, // between 敬老の日 (20) and 秋分の日 (22)
		{"2032-09-22", "秋分の日"},
		{"2037-09-22", "国民の休日"}, // between 敬老の日 (21) and 秋分の日 (23)
		{"2029-04-30", "振替休日"},  // 昭和の日 on a Sunday
		{"2030-05-06", "振替休日"},  // こどもの日 on a Sunday
		{"2033-01-03", ""},      // year-end break, not a national holiday
		{"2034-01-02", "振替休日"},  // 元日 on a Sunday
		{"2026-09-24", ""},
		{"2025-05-07", ""},
	}
	for _, c := range cases {
		d, _ := time.Parse("2006-01-02", c.date)
		name, ok := Holiday(d)
		if name != c.name || ok != (c.name != "") {
			t.Errorf("Holiday(%s) = %q %v, want %q", c.date, name, ok, c.name)
		}
	}
}

// TestHolidayInvariants runs the rules over 2024–2035 in the other
// direction: no national holiday falls on a Sunday without a substitute,
// and every substitute follows a Sunday holiday.
func TestHolidayInvariants(t *testing.T) {
	t.Parallel()
	for y := 2024; y <= 2035; y++ {
		h := holidays(y)
		if n := len(h); n < 16 || n > 22 {
			t.Errorf("%d has %d holidays", y, n)
		}
		for md, name := range h {
			day := date(y, md)
			if name == "振替休日" {
				prev := day.AddDate(0, 0, -1)
				for ; ; prev = prev.AddDate(0, 0, -1) {
					if prev.Weekday() == time.Sunday {
						break
					}
					if _, ok := h[monthDay{prev.Month(), prev.Day()}]; !ok {
						t.Errorf("%s 振替休日 without a Sunday holiday before it", day.Format("2006-01-02"))
						break
					}
				}
				if _, ok := h[monthDay{prev.Month(), prev.Day()}]; !ok {
					t.Errorf("%s 振替休日 follows a Sunday that is no holiday", day.Format("2006-01-02"))
				}
			}
			if day.Weekday() == time.Sunday && name != "国民の休日" {
				found := false
				for next := day.AddDate(0, 0, 1); next.Year() == y; next = next.AddDate(0, 0, 1) {
					if h[monthDay{next.Month(), next.Day()}] == "振替休日" {
						found = true
						break
					}
					if _, ok := h[monthDay{next.Month(), next.Day()}]; !ok {
						break
					}
				}
				if !found {
					t.Errorf("%s %s falls on a Sunday without a substitute", day.Format("2006-01-02"), name)
				}
			}
		}
	}
}

func TestYearEnd(t *testing.T) {
	t.Parallel()
	for date, want := range map[string]bool{
		"2026-12-28": false, "2026-12-29": true, "2026-12-31": true,
		"2027-01-01": true, "2027-01-03": true, "2027-01-04": false,
	} {
		d, _ := time.Parse("2006-01-02", date)
		if YearEnd(d) != want {
			t.Errorf("YearEnd(%s) = %v", date, !want)
		}
	}
}
