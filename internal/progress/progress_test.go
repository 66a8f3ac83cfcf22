package progress

import (
	"strings"
	"testing"
	"time"
)

func TestMeterRateAndETA(t *testing.T) {
	t.Parallel()
	var m Meter
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if r := m.Observe(0, t0); r != 0 {
		t.Errorf("first sample rate = %v, want 0", r)
	}
	if _, ok := m.ETA(100); ok {
		t.Error("ETA without a rate should be unknown")
	}
	if r := m.Observe(500, t0.Add(2*time.Second)); r != 250 {
		t.Errorf("rate = %v, want 250/s", r)
	}
	if d, ok := m.ETA(1000); !ok || d != 4*time.Second {
		t.Errorf("ETA(1000) = %v %v, want 4s", d, ok)
	}
	// The rate is over the last interval only.
	if r := m.Observe(600, t0.Add(3*time.Second)); r != 100 {
		t.Errorf("rate over the last interval = %v, want 100/s", r)
	}
	// A count going down restarts instead of reporting a negative rate.
	if r := m.Observe(10, t0.Add(4*time.Second)); r != 0 {
		t.Errorf("rate after a decrease = %v, want 0", r)
	}
	if d, ok := m.ETA(0); !ok || d != 0 {
		t.Errorf("ETA of nothing left = %v %v", d, ok)
	}
}

func TestBarAndLine(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		done, total int
		want        string
	}{
		{0, 10, "[----------]"},
		{5, 10, "[#####-----]"},
		{10, 10, "[##########]"},
		{12, 10, "[##########]"},
		{3, 0, "[----------]"},
	} {
		if got := Bar(c.done, c.total, 10); got != c.want {
			t.Errorf("Bar(%d, %d) = %q, want %q", c.done, c.total, got, c.want)
		}
	}
	if got := Percent(999, 1000); got != " 99%" {
		t.Errorf("Percent(999, 1000) = %q: an unfinished run never shows 100%%", got)
	}
	var m Meter
	t0 := time.Now()
	m.Observe(0, t0)
	m.Observe(100, t0.Add(time.Second))
	line := Line("run 1", 100, 400, &m)
	for _, want := range []string{"run 1", " 25%", "100/400", "100 msg/s", "ETA 0:03"} {
		if !strings.Contains(line, want) {
			t.Errorf("line %q lacks %q", line, want)
		}
	}
	if got := Duration(3723 * time.Second); got != "1:02:03" {
		t.Errorf("Duration = %q", got)
	}
}
