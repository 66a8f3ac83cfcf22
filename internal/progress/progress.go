// Package progress draws the one-line progress reports of long work on a
// terminal (a bar, the rate over the last interval and the time left), and
// the plain status lines written instead when output is not a terminal.
package progress

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Meter turns successive samples of a growing "done" count into a rate over
// the last interval and an estimate of the time left.
type Meter struct {
	lastDone int
	lastAt   time.Time
	rate     float64 // per second, over the last interval
	started  bool
}

// Observe records that done items were complete at time at, and returns
// the rate (items per second) since the previous sample. The first sample
// has no rate. A count that goes down (a run was cancelled, a counter was
// recomputed) restarts the measurement rather than report a negative rate.
func (m *Meter) Observe(done int, at time.Time) float64 {
	if !m.started || done < m.lastDone || !at.After(m.lastAt) {
		m.started, m.lastDone, m.lastAt, m.rate = true, done, at, 0
		return 0
	}
	m.rate = float64(done-m.lastDone) / at.Sub(m.lastAt).Seconds()
	m.lastDone, m.lastAt = done, at
	return m.rate
}

// Rate is the last computed rate, items per second.
func (m *Meter) Rate() float64 { return m.rate }

// ETA estimates the time needed for remaining items at the last rate; ok
// is false when there is no rate to estimate from.
func (m *Meter) ETA(remaining int) (time.Duration, bool) {
	if remaining <= 0 {
		return 0, true
	}
	if m.rate <= 0 {
		return 0, false
	}
	secs := float64(remaining) / m.rate
	if secs > float64(math.MaxInt64/int64(time.Second)) {
		return 0, false
	}
	return time.Duration(secs * float64(time.Second)).Round(time.Second), true
}

// Bar draws done out of total as a bar of width cells, e.g. "[#####-----]".
func Bar(done, total, width int) string {
	if width < 1 {
		width = 1
	}
	filled := 0
	if total > 0 {
		if done > total {
			done = total
		}
		if done > 0 {
			filled = done * width / total
		}
	}
	return "[" + strings.Repeat("#", filled) + strings.Repeat("-", width-filled) + "]"
}

// Percent formats done/total as a whole percentage ("100%" only when complete).
func Percent(done, total int) string {
	if total <= 0 {
		return "100%"
	}
	p := done * 100 / total
	if p == 100 && done < total {
		p = 99
	}
	return fmt.Sprintf("%3d%%", p)
}

// Duration formats d as m:ss or h:mm:ss for an ETA.
func Duration(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%d:%02d", m, s)
}

// Line is a complete progress line: bar, percentage, counts, rate and ETA.
func Line(label string, done, total int, m *Meter) string {
	eta := "--:--"
	if d, ok := m.ETA(total - done); ok {
		eta = Duration(d)
	}
	return fmt.Sprintf("%s %s %s %d/%d  %.0f msg/s  ETA %s", label, Bar(done, total, 30), Percent(done, total), done, total, m.Rate(), eta)
}
