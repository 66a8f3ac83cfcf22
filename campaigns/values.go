package campaigns

import (
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// durationRE is a campaign duration: a count and one unit.
var durationRE = regexp.MustCompile(`^([0-9]{1,6})(m|h|d|w|y)$`)

// ParseDuration reads a campaign duration: 90m, 72h, 30d, 2w or 1y (a day
// is 24 hours, a week 7 days, a year 365 days). Only positive values are
// accepted.
func ParseDuration(s string) (time.Duration, error) {
	m := durationRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("bad duration %q (write a number and one unit: 90m, 72h, 30d, 2w, 1y)", s)
	}
	n, _ := strconv.Atoi(m[1])
	if n == 0 {
		return 0, fmt.Errorf("bad duration %q: must be more than zero", s)
	}
	unit := map[string]time.Duration{"m": time.Minute, "h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour, "y": 365 * 24 * time.Hour}[m[2]]
	return time.Duration(n) * unit, nil
}

// FormatDuration writes d in the largest campaign unit that divides it
// exactly (72h → 3d, 90m → 90m).
func FormatDuration(d time.Duration) string {
	for _, u := range []struct {
		s string
		d time.Duration
	}{{"y", 365 * 24 * time.Hour}, {"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}} {
		if d >= u.d && d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + u.s
		}
	}
	return d.String()
}

// parseDate reads a calendar date YYYY-MM-DD.
func parseDate(s string) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad date %q (want YYYY-MM-DD)", s)
	}
	return t, nil
}

// instantRE recognises a date-time with an explicit offset (or Z).
var instantRE = regexp.MustCompile(`(?i)^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$`)

// parseInstant reads a date-time that names its offset, e.g.
// 2026-12-01T10:10:00+09:00. Without an offset the moment would depend on
// the machine that reads the file, so it is refused.
func parseInstant(s string) (time.Time, error) {
	if !instantRE.MatchString(s) {
		if _, err := time.Parse("2006-01-02T15:04:05", s); err == nil {
			return time.Time{}, fmt.Errorf("date-time %q needs an explicit offset, e.g. %s+09:00", s, s)
		}
		if _, err := time.Parse("2006-01-02T15:04", s); err == nil {
			return time.Time{}, fmt.Errorf("date-time %q needs an explicit offset, e.g. %s:00+09:00", s, s)
		}
		return time.Time{}, fmt.Errorf("bad date-time %q (want e.g. 2026-12-01T10:10:00+09:00)", s)
	}
	layout := time.RFC3339
	if len(s) >= 16 && (len(s) < 19 || s[16] != ':') {
		layout = "2006-01-02T15:04Z07:00"
	}
	t, err := time.Parse(layout, strings.ToUpper(s))
	if err != nil {
		return time.Time{}, fmt.Errorf("bad date-time %q (want e.g. 2026-12-01T10:10:00+09:00)", s)
	}
	return t, nil
}

// parseClock reads "HH:MM" as minutes after midnight; "24:00" is allowed
// as the end of a day.
func parseClock(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	h, err1 := strconv.Atoi(s[:2])
	m, err2 := strconv.Atoi(s[3:])
	if err1 != nil || err2 != nil || h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, false
	}
	return h*60 + m, true
}

// checkAddress validates an address with an optional display name.
func checkAddress(s string) error {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return fmt.Errorf("not a valid email address %q (write addr@example.co.jp or \"Name <addr@example.co.jp>\")", s)
	}
	at := strings.LastIndexByte(a.Address, '@')
	if at < 1 || !strings.Contains(a.Address[at+1:], ".") {
		return fmt.Errorf("not a valid email address %q: the domain needs a dot", s)
	}
	return nil
}

// checkURL accepts an absolute http or https URL.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("not an absolute http(s) URL: %q", s)
	}
	return nil
}

// suggest returns the candidate closest to s when it is a plausible typo.
func suggest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		d := editDistance(strings.ToLower(s), c)
		if d < bestD || (d == bestD && best == "") {
			best, bestD = c, d
		}
	}
	if bestD > 2 || bestD >= len(s) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance of a and b (by rune).
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return 99
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
