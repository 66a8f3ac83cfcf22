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
	DefaultMaxLate = time.Hour
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
	wall    *cron.SpecSchedule // the cron read on wall-clock time (see matchesWall)
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
// `kizuna campaign start`. So does a cancelled event.
func NewPlan(c *campaigns.Campaign) (*Plan, error) {
	p := &Plan{MaxLate: c.Schedule.MaxLate}
	if p.MaxLate <= 0 {
		p.MaxLate = DefaultMaxLate
	}
	if c.Event != nil && c.Event.Cancelled {
		return p, nil // nothing more is sent; the cancellation is announced (AnnounceWith)
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
			tz = campaigns.DefaultTimezone
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
		wall := *spec
		wall.Location = time.UTC
		p.cron, p.wall, p.loc = spec, &wall, loc
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
		last := to
		seen := map[int64]bool{} // Unix seconds: map keys of time.Time compare zones too
		for n := 0; ; n++ {
			if n == maxEnumerate {
				complete = false
				last = t
				break
			}
			t = p.cron.Next(t)
			if t.IsZero() || t.After(to) {
				break
			}
			if t.Before(from) || !p.validCron(t) {
				continue
			}
			seen[t.Unix()] = true
			out = append(out, p.cronOccurrence(t))
		}
		p.gapsBetween(from.Add(-time.Nanosecond), last, func(g time.Time) bool {
			if !g.Before(from) && !seen[g.Unix()] {
				seen[g.Unix()] = true
				out = append(out, p.cronOccurrence(g))
			}
			return true
		})
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
		if n := p.nextCron(t); !n.IsZero() && (!found || n.Before(best.At)) {
			best, found = p.cronOccurrence(n), true
		}
	}
	return best, found
}

func (p *Plan) cronOccurrence(t time.Time) Occurrence {
	at := t.UTC()
	return Occurrence{Key: "cron:" + at.Format(time.RFC3339), Kind: KindSend, At: at, Source: p.cronSrc}
}

// nextCron returns the cron's first occurrence strictly after t (zero if
// none within robfig/cron's five-year horizon), the moment after a
// daylight-saving gap included (see gapsBetween).
func (p *Plan) nextCron(t time.Time) time.Time {
	n := t
	for i := 0; ; i++ {
		n = p.cron.Next(n)
		if n.IsZero() || p.validCron(n) {
			break
		}
		if i == 8 {
			n = time.Time{}
			break
		}
	}
	limit := n
	if limit.IsZero() {
		limit = t.AddDate(5, 0, 0)
	}
	var gap time.Time
	p.gapsBetween(t, limit, func(g time.Time) bool { gap = g; return false })
	if !gap.IsZero() && (n.IsZero() || gap.Before(n)) {
		return gap
	}
	return n
}

// validCron reports whether a time robfig/cron returned is an occurrence:
// its local wall time matches the spec (robfig/cron's walk through a
// daylight-saving change can land elsewhere), and it is not the second
// instance of a repeated wall time.
func (p *Plan) validCron(t time.Time) bool {
	return p.matchesWall(t.In(p.loc)) && !p.repeatedWallTime(t)
}

// matchesWall reports whether the wall-clock reading of local (its date,
// hour and minute, whatever its offset) is a time the cron spec names.
func (p *Plan) matchesWall(local time.Time) bool {
	if local.Second() != 0 || local.Nanosecond() != 0 {
		return false
	}
	w := time.Date(local.Year(), local.Month(), local.Day(), local.Hour(), local.Minute(), 0, 0, time.UTC)
	return p.wall.Next(w.Add(-time.Second)).Equal(w)
}

// maxTransitions bounds the zone transitions one zoneChanges call walks.
const maxTransitions = 256

// zoneChange is a change of the cron zone's offset over a wall time the
// spec names.
type zoneChange struct {
	At   time.Time     // the instant of the change
	Jump time.Duration // > 0: clocks skip forward (a gap); < 0: they go back (a repeat)
	// Wall is the first named wall-clock reading (a time in time.UTC read as
	// a local clock) that the change skips or repeats.
	Wall time.Time
	// Span is the first wall-clock reading the change skips or repeats
	// (02:00 when 02:00-03:00 is skipped).
	Span time.Time
}

// zoneChanges calls fn, in time order, with each change of the cron zone's
// offset in (after, upTo] that skips or repeats a wall time the spec names,
// until fn returns false.
func (p *Plan) zoneChanges(after, upTo time.Time, fn func(zoneChange) bool) {
	t := after
	for i := 0; i < maxTransitions; i++ {
		_, end := t.In(p.loc).ZoneBounds()
		if end.IsZero() || end.After(upTo) || !end.After(t) {
			return
		}
		t = end
		_, before := end.Add(-time.Nanosecond).In(p.loc).Zone()
		_, now := end.In(p.loc).Zone()
		jump := time.Duration(now-before) * time.Second
		if jump == 0 {
			continue
		}
		// The new zone reads end as wall: a jump forward skipped the wall
		// times [wall-jump, wall); a jump back repeats [wall, wall-jump).
		l := end.In(p.loc)
		wall := time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), 0, time.UTC)
		from, to := wall.Add(-jump), wall
		if jump < 0 {
			from, to = wall, wall.Add(-jump)
		}
		m := from.Truncate(time.Minute)
		if m.Before(from) {
			m = m.Add(time.Minute)
		}
		for ; m.Before(to); m = m.Add(time.Minute) {
			if p.wall.Next(m.Add(-time.Second)).Equal(m) {
				if !fn(zoneChange{At: end, Jump: jump, Wall: m, Span: from}) {
					return
				}
				break
			}
		}
	}
}

// gapsBetween calls fn, in time order, with each instant in (after, upTo]
// at which the cron's zone skips forward (a daylight-saving gap) over a wall
// time the spec names, until fn returns false. That instant, the first valid
// moment after the gap (03:00 when 02:00-03:00 is skipped), is the
// occurrence of the skipped times — once, however many the gap swallowed:
// classic cron's rule (Vixie cron, cron(8): "If time was adjusted one hour
// forward, those jobs that would have run in the interval that has been
// skipped will be run immediately"). robfig/cron alone drops them (its
// PR #541).
func (p *Plan) gapsBetween(after, upTo time.Time, fn func(time.Time) bool) {
	p.zoneChanges(after, upTo, func(z zoneChange) bool {
		if z.Jump < 0 {
			return true
		}
		return fn(z.At)
	})
}

// DaylightSavingNotes describes, for a cron schedule, the first day in
// [from, to] on which its zone's clocks skip a time the spec names, and the
// first on which they repeat one: at most two sentences, none for a plan
// without cron or a zone without daylight saving. Skipped times are sent
// once at the end of the gap and repeated ones once, at their first
// instance (see gapsBetween and repeatedWallTime).
func (p *Plan) DaylightSavingNotes(from, to time.Time) []string {
	if p.cron == nil {
		return nil
	}
	var gap, repeat *zoneChange
	p.zoneChanges(from.Add(-time.Nanosecond), to, func(z zoneChange) bool {
		switch {
		case z.Jump > 0 && gap == nil:
			gap = &z
		case z.Jump < 0 && repeat == nil:
			repeat = &z
		}
		return gap == nil || repeat == nil
	})
	src := strings.TrimPrefix(p.cronSrc, "cron:")
	at := strings.LastIndex(src, "@")
	spec := fmt.Sprintf("%q in %s", src[:at], src[at+1:])
	var out []string
	if gap != nil {
		after := gap.At.In(p.loc)
		out = append(out, fmt.Sprintf("cron %s names %s, which does not exist on %s (clocks skip forward %s at %s): that day it is sent once, at %s",
			spec, gap.Wall.Format("15:04"), gap.Wall.Format(time.DateOnly), FormatOffset(gap.Jump), gap.Span.Format("15:04"), after.Format("15:04 MST")))
	}
	if repeat != nil {
		out = append(out, fmt.Sprintf("cron %s names %s, which happens twice on %s (clocks go back %s at %s): it is sent once, at the first %s",
			spec, repeat.Wall.Format("15:04"), repeat.Wall.Format(time.DateOnly), FormatOffset(-repeat.Jump), repeat.Span.Add(-repeat.Jump).Format("15:04"), repeat.Wall.Format("15:04")))
	}
	return out
}

// repeatedWallTime reports whether t is the second instance of a local
// time that a daylight-saving change repeats (01:30 on the night clocks go
// back): the first instance was the occurrence, so the campaign is not sent
// twice. The answer depends on t alone, so every scheduler agrees. (A local
// time that a change skips is sent once at the end of the gap: gapsBetween.)
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
