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
// name. It computes the answer from the rules directly, without tables, so
// it is cheap enough to ask for every delivery.
func Holiday(t time.Time) (name string, ok bool) {
	y, m, d := t.Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	if name := national(day); name != "" {
		return name, true
	}
	// 振替休日: the nearest day after a Sunday 国民の祝日 that is not itself
	// one; every day in between is a 国民の祝日.
	for p := day.AddDate(0, 0, -1); national(p) != ""; p = p.AddDate(0, 0, -1) {
		if p.Weekday() == time.Sunday {
			return "振替休日", true
		}
	}
	// 国民の休日: a day between two 国民の祝日.
	if national(day.AddDate(0, 0, -1)) != "" && national(day.AddDate(0, 0, 1)) != "" {
		return "国民の休日", true
	}
	return "", false
}

// YearEnd reports whether the calendar date of t lies in the year-end break
// most Japanese companies observe, 12/29–1/3 (年末年始).
func YearEnd(t time.Time) bool {
	_, m, d := t.Date()
	return m == time.December && d >= 29 || m == time.January && d <= 3
}

// national names the 国民の祝日 (Article 2 of the Act) on day, or "".
func national(day time.Time) string {
	y, m, d := day.Date()
	switch m {
	case time.January:
		switch d {
		case 1:
			return "元日"
		case nthMonday(y, m, 2):
			return "成人の日"
		}
	case time.February:
		switch d {
		case 11:
			return "建国記念の日"
		case 23:
			return "天皇誕生日"
		}
	case time.March:
		if d == vernalEquinox(y) {
			return "春分の日"
		}
	case time.April:
		if d == 29 {
			return "昭和の日"
		}
	case time.May:
		switch d {
		case 3:
			return "憲法記念日"
		case 4:
			return "みどりの日"
		case 5:
			return "こどもの日"
		}
	case time.July:
		switch {
		case y == 2020 && d == 23, y == 2021 && d == 22, y > 2021 && d == nthMonday(y, m, 3):
			return "海の日"
		case y == 2020 && d == 24, y == 2021 && d == 23:
			return "スポーツの日"
		}
	case time.August:
		if y == 2020 && d == 10 || y == 2021 && d == 8 || y > 2021 && d == 11 {
			return "山の日"
		}
	case time.September:
		switch d {
		case nthMonday(y, m, 3):
			return "敬老の日"
		case autumnalEquinox(y):
			return "秋分の日"
		}
	case time.October:
		if y > 2021 && d == nthMonday(y, m, 2) {
			return "スポーツの日"
		}
	case time.November:
		switch d {
		case 3:
			return "文化の日"
		case 23:
			return "勤労感謝の日"
		}
	}
	return ""
}

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
