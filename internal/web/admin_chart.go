package web

import (
	"fmt"
	"strings"

	"github.com/kizuna-alumni/kizuna/internal/runs"
)

// Geometry of a funnel chart, in the SVG's own units (its viewBox; the
// stylesheet scales it to the card's width).
const (
	chartWidth  = 560
	chartLabelX = 104 // right edge of the labels
	chartBarX   = 112 // where the bars start
	chartBarMax = 320 // the longest bar
	chartRow    = 30  // one bar and its gap
	chartBarH   = 18
	chartTop    = 6
)

// adminChart is a run's delivery funnel as an inline SVG bar chart drawn
// on the server: one horizontal bar per count, its number (and share) as
// text beside it. It is accessible (role="img", a <title> and a <desc>
// holding every number) and the same numbers are in the page's table.
type adminChart struct {
	ID            string // unique in the page: the ids of its title and desc
	Title, Desc   string
	Width, Height int
	LabelX, BarX  int
	Bars          []adminBar
}

// adminBar is one bar of a chart.
type adminBar struct {
	Key, Label, Text string // Key is the metric (the bar's CSS class)
	Y, TextY         int    // the bar's top, the baseline of its texts
	W, TrackW, H     int
	ValueX           int // where the number starts: a column right of the bars
}

// adminChartOf draws counts (in order, top to bottom) of run st. Bars are
// scaled to the largest of the run's recipients and the counts, so one
// run's bars compare; a count above zero is at least 2 units long.
func adminChartOf(t map[string]string, st runs.RunStatus, counts []adminCount) adminChart {
	values := map[string]int64{
		"sent": st.Sent, "opened": st.Opened, "clicked": st.Clicked, "replied": st.Replied,
		"unsubscribed": st.Unsubscribed, "bounced": st.Bounced, "failed": st.Failed,
		"yes": st.RSVPYes, "maybe": st.RSVPMaybe, "no": st.RSVPNo, "waitlisted": st.Waitlisted,
	}
	top := max(st.Total, 1)
	for _, c := range counts {
		top = max(top, values[c.Key])
	}
	ch := adminChart{
		ID:    fmt.Sprintf("chart-run-%d", st.Run),
		Title: fmt.Sprintf(t["chart_title"], st.Run, adminWord(t, "runkind_", st.Kind)),
		Width: chartWidth, Height: chartTop*2 + len(counts)*chartRow,
		LabelX: chartLabelX, BarX: chartBarX,
	}
	desc := make([]string, 0, len(counts))
	for i, c := range counts {
		n := values[c.Key]
		w := int(n * chartBarMax / top)
		if n > 0 && w < 2 {
			w = 2
		}
		text := c.Value
		if c.Share != "" {
			text += " (" + c.Share + ")"
		}
		y := chartTop + i*chartRow
		ch.Bars = append(ch.Bars, adminBar{
			Key: c.Key, Label: c.Label, Text: text,
			Y: y + (chartRow-chartBarH)/2, TextY: y + chartRow/2 + 5,
			W: w, TrackW: chartBarMax, H: chartBarH, ValueX: chartBarX + chartBarMax + 10,
		})
		desc = append(desc, c.Label+" "+text)
	}
	ch.Desc = strings.Join(desc, t["chart_desc_sep"])
	return ch
}
