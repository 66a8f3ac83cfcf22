package scheduler

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/kizuna-alumni/kizuna/campaigns"
)

// Kinds of run an occurrence starts (the runs.kind column).
const (
	KindSend     = "send"
	KindReminder = "reminder"
)

// Defaults of a campaign's schedule block (SPEC.md, Campaign files).
const (
	DefaultTimezone = "Asia/Tokyo"
	DefaultMaxLate  = time.Hour
)

// maxEnumerate bounds how many cron occurrences one call walks, so that a
// clock jump or a long suspension cannot stall the scheduler on an
// every-minute campaign.
const maxEnumerate = 10000

// Occurrence is one moment a campaign is due to send. Its Key is
// deterministic, so every scheduler computes the same key for the same
// occurrence and Postgres lets only one of them start its run.
type Occurrence struct {
	Key  string    // "at:<UTC RFC 3339>", "cron:<UTC RFC 3339>" or "reminder:<offset>:<UTC RFC 3339>"
	Kind string    // KindSend or KindReminder
	At   time.Time // when it is due, UTC
	// Source is the part of the schedule that produced it: the occurrence key
	// of a one-off ("at:…", "reminder:…"), or "cron:<spec>@<zone>" for every
	// occurrence of a recurring schedule. The scheduler remembers when it
	// first saw each source: an occurrence is only sent automatically when
	// its source was known before it was due.
	Source string
}

// Plan is the compiled schedule of one campaign version.
type Plan struct {
	oneOffs []Occurrence // at and reminders, sorted by time
	cron    cron.Schedule
	cronSrc string
	loc     *time.Location // the cron's time zone
	// MaxLate is how late an occurrence may still be started.
	MaxLate time.Duration
}

// cronParser accepts the 5-field specs of SPEC.md. Descriptors such as
// @every are rejected: their occurrences depend on when the scheduler
// happened to start, so two schedulers would compute different keys.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// NewPlan compiles the schedule of c (its at, cron and event reminders).
// A campaign without any of them yields an empty plan: it is sent only by
// `kizuna campaign start`.
func NewPlan(c *campaigns.Campaign) (*Plan, error) {
	p := &Plan{MaxLate: c.Schedule.MaxLate}
	if p.MaxLate <= 0 {
		p.MaxLate = DefaultMaxLate
	}
	s := c.Schedule
	if s.At != nil {
		at := s.At.UTC()
		key := "at:" + at.Format(time.RFC3339)
		p.oneOffs = append(p.oneOffs, Occurrence{Key: key, Kind: KindSend, At: at, Source: key})
	}
	if strings.TrimSpace(s.Cron) != "" {
		tz := s.Timezone
		if tz == "" {
			tz = DefaultTimezone
		}
		loc, err := time.LoadLocation(tz)
		if err != nil {
			return nil, fmt.Errorf("campaign %s: schedule timezone %q: %w", c.ID, tz, err)
		}
		sched, err := cronParser.Parse(s.Cron)
		if err != nil {
			return nil, fmt.Errorf("campaign %s: schedule cron %q: %w", c.ID, s.Cron, err)
		}
		spec, ok := sched.(*cron.SpecSchedule)
		if !ok {
			return nil, fmt.Errorf("campaign %s: schedule cron %q: not a 5-field spec", c.ID, s.Cron)
		}
		spec.Location = loc
		p.cron, p.loc = spec, loc
		p.cronSrc = "cron:" + strings.Join(strings.Fields(s.Cron), " ") + "@" + tz
	}
	if c.Event != nil && !c.Event.StartsAt.IsZero() {
		for _, off := range c.Event.Reminders {
			if off <= 0 {
				return nil, errors.New("campaign " + c.ID + ": event reminder offsets must be positive")
			}
			at := c.Event.StartsAt.Add(-off).UTC()
			key := "reminder:" + FormatOffset(off) + ":" + at.Format(time.RFC3339)
			p.oneOffs = append(p.oneOffs, Occurrence{Key: key, Kind: KindReminder, At: at, Source: key})
		}
	}
	sort.SliceStable(p.oneOffs, func(i, j int) bool { return p.oneOffs[i].At.Before(p.oneOffs[j].At) })
	return p, nil
}

// Empty reports whether the plan never sends by itself.
func (p *Plan) Empty() bool { return len(p.oneOffs) == 0 && p.cron == nil }

// Sources lists the schedule parts of the plan (see Occurrence.Source).
func (p *Plan) Sources() []string {
	var out []string
	for _, o := range p.oneOffs {
		out = append(out, o.Source)
	}
	if p.cron != nil {
		out = append(out, p.cronSrc)
	}
	return out
}

// OneOffs returns the plan's one-off occurrences (at and reminders) in time order.
func (p *Plan) OneOffs() []Occurrence { return append([]Occurrence(nil), p.oneOffs...) }

// Between returns the occurrences with from <= At <= to, in time order.
// The second result is false when a recurring schedule had more occurrences
// in the interval than one call walks; the list then stops early.
func (p *Plan) Between(from, to time.Time) ([]Occurrence, bool) {
	var out []Occurrence
	for _, o := range p.oneOffs {
		if !o.At.Before(from) && !o.At.After(to) {
			out = append(out, o)
		}
	}
	complete := true
	if p.cron != nil {
		// Next returns times strictly after its argument, rounded to whole
		// seconds, so start one second early and filter.
		t := from.Add(-time.Second)
		for n := 0; ; n++ {
			if n == maxEnumerate {
				complete = false
				break
			}
			t = p.cron.Next(t)
			if t.IsZero() || t.After(to) {
				break
			}
			if t.Before(from) || p.repeatedWallTime(t) {
				continue
			}
			at := t.UTC()
			out = append(out, Occurrence{Key: "cron:" + at.Format(time.RFC3339), Kind: KindSend, At: at, Source: p.cronSrc})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, complete
}

// Next returns the first occurrence strictly after t, if any.
func (p *Plan) Next(t time.Time) (Occurrence, bool) {
	var best Occurrence
	found := false
	for _, o := range p.oneOffs {
		if o.At.After(t) {
			best, found = o, true
			break
		}
	}
	if p.cron != nil {
		n := p.cron.Next(t)
		for i := 0; i < 4 && !n.IsZero() && p.repeatedWallTime(n); i++ {
			n = p.cron.Next(n)
		}
		if !n.IsZero() && (!found || n.Before(best.At)) {
			at := n.UTC()
			best, found = Occurrence{Key: "cron:" + at.Format(time.RFC3339), Kind: KindSend, At: at, Source: p.cronSrc}, true
		}
	}
	return best, found
}

// repeatedWallTime reports whether t is the second instance of a local
// time that a daylight-saving change repeats (01:30 on the night clocks go
// back): the first instance was the occurrence, so the campaign is not sent
// twice. The answer depends on t alone, so every scheduler agrees. (A local
// time that a change skips does not occur at all: robfig/cron's rule, and
// the reason to keep crons out of 01:00–03:00 in zones with DST.)
func (p *Plan) repeatedWallTime(t time.Time) bool {
	const wall = "2006-01-02 15:04:05"
	local := t.In(p.loc).Format(wall)
	for _, back := range []time.Duration{30 * time.Minute, time.Hour} {
		if t.Add(-back).In(p.loc).Format(wall) == local {
			return true
		}
	}
	return false
}

// FormatOffset writes a reminder offset the way campaign files do: "72h",
// "90m", "3h30m".
func FormatOffset(d time.Duration) string {
	if d%time.Hour == 0 {
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	}
	if d%time.Minute == 0 {
		h, m := d/time.Hour, (d%time.Hour)/time.Minute
		if h == 0 {
			return strconv.FormatInt(int64(m), 10) + "m"
		}
		return strconv.FormatInt(int64(h), 10) + "h" + strconv.FormatInt(int64(m), 10) + "m"
	}
	return d.String()
}
