package render

import (
	"testing"
	"time"
)

func TestFormatEventEnd(t *testing.T) {
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	la, _ := time.LoadLocation("America/Los_Angeles")
	start := time.Date(2026, 12, 18, 19, 0, 0, 0, tokyo)
	cases := []struct {
		name   string
		end    time.Time
		locale string
		loc    *time.Location
		want   string
	}{
		{"same day ja", start.Add(2 * time.Hour), "ja", tokyo, "21:00"},
		{"same day en", start.Add(2 * time.Hour), "en", tokyo, "21:00 JST"},
		{"past midnight ja", start.Add(6 * time.Hour), "ja", tokyo, "2026年12月19日(土) 01:00"},
		// 02:00–04:00 in Los Angeles the same day there.
		{"same day in the recipient's zone", start.Add(2 * time.Hour), "en", la, "04:00 PST"},
		{"past midnight in Tokyo, the same day in Los Angeles", start.Add(6 * time.Hour), "en", la, "08:00 PST"},
		{"a year later", start.AddDate(1, 0, 0), "ja", tokyo, "2027年12月18日(土) 19:00"},
	}
	for _, c := range cases {
		if got := formatEventEnd(start, c.end, c.locale, c.loc); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
