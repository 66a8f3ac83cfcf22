package tz_test

import (
	"testing"

	"github.com/kizuna-alumni/kizuna/internal/tz"
)

func TestLoadFallsBackToTokyo(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"", "Asia/Tokyo"},
		{"Not/AZone", "Asia/Tokyo"},
		{"../../etc/passwd", "Asia/Tokyo"},
		{"Europe/London", "Europe/London"},
		{"Asia/Tokyo", "Asia/Tokyo"},
	} {
		if got := tz.Load(tc.in).String(); got != tc.want {
			t.Errorf("Load(%q) = %s, want %s", tc.in, got, tc.want)
		}
		if got := tz.Name(tc.in); got != tc.want {
			t.Errorf("Name(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
	if tz.Load("Europe/London") != tz.Load("Europe/London") {
		t.Error("Load does not reuse the zone it loaded")
	}
	if tz.Tokyo().String() != tz.Default {
		t.Errorf("Tokyo() = %s", tz.Tokyo())
	}
}
