package window

import (
	"math"
	"time"
)

// Japanese national holidays under the Act on National Holidays (国民の祝日に
// 関する法律) as amended for 2020 onwards, the list the Cabinet Office (内閣府)
// publishes. The rules:
//
//   - fixed days: 元日 1/1, 建国記念の日 2/11, 天皇誕生日 2/23, 昭和の日 4/29,
//     憲法記念日 5/3, みどりの日 5/4, こどもの日 5/5, 山の日 8/11, 文化の日 11/3,
//     勤労感謝の日 11/23;
//   - Happy Monday days: 成人の日 (2nd Monday of January), 海の日 (3rd Monday
//     of July), 敬老の日 (3rd Monday of September), スポーツの日 (2nd Monday of
//     October);
//   - 春分の日 and 秋分の日 on the equinox days, computed with the standard
//     approximation (valid 1980–2099; the Cabinet Office confirms each year's
//     dates in February of the year before, and they have matched it);
//   - 振替休日: a holiday on a Sunday moves to the next day that is not a
//     holiday (Article 3-2);
//   - 国民の休日: a day between two national holidays is a holiday (Article 3-3).
//
// 2020 and 2021 moved 海の日, スポーツの日 and 山の日 for the Tokyo Olympics;
// those dates are special-cased. Years before 2020 follow different rules
// (天皇誕生日 was 12/23 until 2018) and are not supported.

// Holiday reports whether the calendar date of t (its year, month and day as
// written, whatever its location) is a Japanese national holiday, and its
// name.
func Holiday(t time.Time) (name string, ok bool) {
	y, m, d := t.Date()
	name, ok = holidays(y)[monthDay{m, d}]
	return name, ok
}

// YearEnd reports whether the calendar date of t lies in the year-end break
// most Japanese companies observe, 12/29–1/3 (年末年始).
func YearEnd(t time.Time) bool {
	_, m, d := t.Date()
	return m == time.December && d >= 29 || m == time.January && d <= 3
}

type monthDay struct {
	m time.Month
	d int
}

// holidays lists the national holidays of year y.
func holidays(y int) map[monthDay]string {
	h := map[monthDay]string{
		{time.January, 1}:                                 "元日",
		{time.February, 11}:                               "建国記念の日",
		{time.February, 23}:                               "天皇誕生日",
		{time.March, vernalEquinox(y)}:                    "春分の日",
		{time.April, 29}:                                  "昭和の日",
		{time.May, 3}:                                     "憲法記念日",
		{time.May, 4}:                                     "みどりの日",
		{time.May, 5}:                                     "こどもの日",
		{time.September, autumnalEquinox(y)}:              "秋分の日",
		{time.November, 3}:                                "文化の日",
		{time.November, 23}:                               "勤労感謝の日",
		{time.January, nthMonday(y, time.January, 2)}:     "成人の日",
		{time.September, nthMonday(y, time.September, 3)}: "敬老の日",
	}
	switch y {
	case 2020:
		h[monthDay{time.July, 23}] = "海の日"
		h[monthDay{time.July, 24}] = "スポーツの日"
		h[monthDay{time.August, 10}] = "山の日"
	case 2021:
		h[monthDay{time.July, 22}] = "海の日"
		h[monthDay{time.July, 23}] = "スポーツの日"
		h[monthDay{time.August, 8}] = "山の日"
	default:
		h[monthDay{time.July, nthMonday(y, time.July, 3)}] = "海の日"
		h[monthDay{time.October, nthMonday(y, time.October, 2)}] = "スポーツの日"
		h[monthDay{time.August, 11}] = "山の日"
	}
	// 国民の休日: a plain day between two national holidays. Checked before
	// substitutes are added (the law counts 国民の祝日 only).
	for _, md := range sortedDays(h) {
		day := date(y, md)
		next, after := day.AddDate(0, 0, 1), day.AddDate(0, 0, 2)
		if next.Year() != y || after.Year() != y {
			continue
		}
		nmd, amd := monthDay{next.Month(), next.Day()}, monthDay{after.Month(), after.Day()}
		if _, isHol := h[nmd]; !isHol {
			if _, isHol := h[amd]; isHol {
				h[nmd] = "国民の休日"
			}
		}
	}
	// 振替休日: a holiday on Sunday makes the next non-holiday a holiday.
	for _, md := range sortedDays(h) {
		day := date(y, md)
		if day.Weekday() != time.Sunday || h[md] == "国民の休日" {
			continue
		}
		for sub := day.AddDate(0, 0, 1); sub.Year() == y; sub = sub.AddDate(0, 0, 1) {
			smd := monthDay{sub.Month(), sub.Day()}
			if _, isHol := h[smd]; !isHol {
				h[smd] = "振替休日"
				break
			}
		}
	}
	return h
}

// sortedDays lists the keys of h in calendar order.
func sortedDays(h map[monthDay]string) []monthDay {
	out := make([]monthDay, 0, len(h))
	for m := time.January; m <= time.December; m++ {
		for d := 1; d <= 31; d++ {
			if _, ok := h[monthDay{m, d}]; ok {
				out = append(out, monthDay{m, d})
			}
		}
	}
	return out
}

func date(y int, md monthDay) time.Time { return time.Date(y, md.m, md.d, 0, 0, 0, 0, time.UTC) }

// nthMonday is the day of the month of the n-th Monday of month m in year y.
func nthMonday(y int, m time.Month, n int) int {
	first := time.Date(y, m, 1, 0, 0, 0, 0, time.UTC).Weekday()
	offset := (int(time.Monday) - int(first) + 7) % 7
	return 1 + offset + 7*(n-1)
}

// vernalEquinox is the March day of 春分の日 (approximation for 1980–2099).
func vernalEquinox(y int) int {
	return int(math.Floor(20.8431 + 0.242194*float64(y-1980) - math.Floor(float64(y-1980)/4)))
}

// autumnalEquinox is the September day of 秋分の日 (approximation for 1980–2099).
func autumnalEquinox(y int) int {
	return int(math.Floor(23.2488 + 0.242194*float64(y-1980) - math.Floor(float64(y-1980)/4)))
}
