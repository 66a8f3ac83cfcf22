package scheduler

import (
	"strings"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/campaigns"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func keys(occ []Occurrence) []string {
	var out []string
	for _, o := range occ {
		out = append(out, o.Key)
	}
	return out
}

func TestPlanOneOffAt(t *testing.T) {
	t.Parallel()
	at := mustTime(t, "2026-12-01T10:10:00+09:00")
	p, err := NewPlan(&campaigns.Campaign{ID: "c", Schedule: campaigns.Schedule{At: &at}})
	if err != nil {
		t.Fatal(err)
	}
	if p.MaxLate != DefaultMaxLate {
		t.Errorf("MaxLate = %v, want default %v", p.MaxLate, DefaultMaxLate)
	}
	before, _ := p.Between(at.Add(-2*time.Hour), at.Add(-time.Second))
	if len(before) != 0 {
		t.Errorf("before at: %v, want none", keys(before))
	}
	got, _ := p.Between(at.Add(-time.Hour), at)
	if want := "at:2026-12-01T01:10:00Z"; len(got) != 1 || got[0].Key != want || got[0].Kind != KindSend || got[0].Source != want {
		t.Errorf("at its time: %+v, want one send occurrence %s", got, want)
	}
	if n, ok := p.Next(at.Add(-time.Minute)); !ok || !n.At.Equal(at) {
		t.Errorf("Next before at = %v %v, want %v", n.At, ok, at)
	}
	if _, ok := p.Next(at); ok {
		t.Error("Next after a one-off's time should find nothing")
	}
}

func TestPlanCronTokyoAcrossMonthEnds(t *testing.T) {
	t.Parallel()
	// 08:00 on the 1st in Tokyo is 23:00 UTC on the last day of the month before.
	p, err := NewPlan(&campaigns.Campaign{ID: "c", Schedule: campaigns.Schedule{Cron: "0 8 1 * *"}})
	if err != nil {
		t.Fatal(err)
	}
	got, complete := p.Between(mustTime(t, "2027-01-15T00:00:00Z"), mustTime(t, "2027-04-15T00:00:00Z"))
	want := []string{"cron:2027-01-31T23:00:00Z", "cron:2027-02-28T23:00:00Z", "cron:2027-03-31T23:00:00Z"}
	if !complete || strings.Join(keys(got), " ") != strings.Join(want, " ") {
		t.Errorf("got %v (complete %v), want %v", keys(got), complete, want)
	}
	for _, o := range got {
		if o.Source != "cron:0 8 1 * *@Asia/Tokyo" || o.Kind != KindSend {
			t.Errorf("occurrence %+v: wrong source or kind", o)
		}
	}

	// The 31st exists only in some months, and 2028 is a leap year.
	p31, err := NewPlan(&campaigns.Campaign{ID: "c", Schedule: campaigns.Schedule{Cron: "30 23 31 * *", Timezone: "Asia/Tokyo"}})
	if err != nil {
		t.Fatal(err)
	}
	got, _ = p31.Between(mustTime(t, "2028-01-01T00:00:00Z"), mustTime(t, "2028-06-30T00:00:00Z"))
	want = []string{"cron:2028-01-31T14:30:00Z", "cron:2028-03-31T14:30:00Z", "cron:2028-05-31T14:30:00Z"}
	if strings.Join(keys(got), " ") != strings.Join(want, " ") {
		t.Errorf("31st: got %v, want %v", keys(got), want)
	}
	pFeb, _ := NewPlan(&campaigns.Campaign{ID: "c", Schedule: campaigns.Schedule{Cron: "0 9 29 2 *"}})
	n, ok := pFeb.Next(mustTime(t, "2026-03-01T00:00:00Z"))
	if !ok || n.Key != "cron:2028-02-29T00:00:00Z" {
		t.Errorf("next Feb 29 = %v %v, want cron:2028-02-29T00:00:00Z", n.Key, ok)
	}
}

func TestPlanCronBoundariesAreInclusive(t *testing.T) {
	t.Parallel()
	p, _ := NewPlan(&campaigns.Campaign{ID: "c", Schedule: campaigns.Schedule{Cron: "*/15 * * * *", Timezone: "UTC"}})
	from := mustTime(t, "2026-05-01T10:00:00Z")
	got, _ := p.Between(from, from.Add(30*time.Minute))
	want := "cron:2026-05-01T10:00:00Z cron:2026-05-01T10:15:00Z cron:2026-05-01T10:30:00Z"
	if strings.Join(keys(got), " ") != want {
		t.Errorf("got %v, want %v", keys(got), want)
	}
	// A from with a fraction of a second excludes the whole second before it.
	got, _ = p.Between(from.Add(500*time.Millisecond), from.Add(15*time.Minute))
	if strings.Join(keys(got), " ") != "cron:2026-05-01T10:15:00Z" {
		t.Errorf("fractional from: got %v", keys(got))
	}
}

func TestPlanCronEnumerationIsBounded(t *testing.T) {
	t.Parallel()
	p, _ := NewPlan(&campaigns.Campaign{ID: "c", Schedule: campaigns.Schedule{Cron: "* * * * *"}})
	from := mustTime(t, "2026-01-01T00:00:00Z")
	got, complete := p.Between(from, from.AddDate(1, 0, 0))
	if complete || len(got) != maxEnumerate {
		t.Errorf("a year of minutes: %d occurrences, complete %v; want %d and incomplete", len(got), complete, maxEnumerate)
	}
}

func TestPlanReminders(t *testing.T) {
	t.Parallel()
	starts := mustTime(t, "2026-12-18T19:00:00+09:00")
	at := mustTime(t, "2026-12-01T10:10:00+09:00")
	c := &campaigns.Campaign{ID: "ev", Kind: campaigns.KindEvent, Schedule: campaigns.Schedule{At: &at},
		Event: &campaigns.Event{StartsAt: starts, Reminders: []time.Duration{3 * time.Hour, 72 * time.Hour, 90 * time.Minute}}}
	p, err := NewPlan(c)
	if err != nil {
		t.Fatal(err)
	}
	got := p.OneOffs()
	want := []string{
		"at:2026-12-01T01:10:00Z",
		"reminder:72h:2026-12-15T10:00:00Z",
		"reminder:3h:2026-12-18T07:00:00Z",
		"reminder:1h30m:2026-12-18T08:30:00Z",
	}
	if strings.Join(keys(got), " ") != strings.Join(want, " ") {
		t.Fatalf("got %v, want %v", keys(got), want)
	}
	for _, o := range got[1:] {
		if o.Kind != KindReminder {
			t.Errorf("%s: kind %s, want reminder", o.Key, o.Kind)
		}
	}
	due, _ := p.Between(mustTime(t, "2026-12-15T09:30:00Z"), mustTime(t, "2026-12-15T10:00:00Z"))
	if len(due) != 1 || due[0].Key != want[1] {
		t.Errorf("due at 72h before: %v", keys(due))
	}
}

func TestPlanRejectsWhatSchedulersCannotAgreeOn(t *testing.T) {
	t.Parallel()
	for _, c := range []campaigns.Schedule{
		{Cron: "@every 1h"},
		{Cron: "0 0 9 * * *"}, // six fields
		{Cron: "0 9 * * *", Timezone: "Mars/Olympus"},
	} {
		if _, err := NewPlan(&campaigns.Campaign{ID: "bad", Schedule: c}); err == nil || !strings.Contains(err.Error(), "campaign bad") {
			t.Errorf("%+v: err = %v, want an error naming the campaign", c, err)
		}
	}
	p, err := NewPlan(&campaigns.Campaign{ID: "manual"})
	if err != nil || !p.Empty() {
		t.Errorf("no schedule: empty=%v err=%v, want an empty plan", p.Empty(), err)
	}
}

func TestFormatOffset(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		72 * time.Hour:   "72h",
		90 * time.Minute: "1h30m",
		45 * time.Minute: "45m",
		90 * time.Second: "1m30s",
		336 * time.Hour:  "336h",
	} {
		if got := FormatOffset(d); got != want {
			t.Errorf("FormatOffset(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestPlanCronAcrossDaylightSaving(t *testing.T) {
	t.Parallel()
	p, err := NewPlan(&campaigns.Campaign{ID: "c", Schedule: campaigns.Schedule{Cron: "30 1 * * *", Timezone: "America/New_York"}})
	if err != nil {
		t.Fatal(err)
	}
	// Clocks go back at 02:00 EDT on 2026-11-01: 01:30 happens twice, sent once.
	got, _ := p.Between(mustTime(t, "2026-10-31T00:00:00Z"), mustTime(t, "2026-11-02T12:00:00Z"))
	want := "cron:2026-10-31T05:30:00Z cron:2026-11-01T05:30:00Z cron:2026-11-02T06:30:00Z"
	if strings.Join(keys(got), " ") != want {
		t.Errorf("fall back: %v, want %v", keys(got), want)
	}
	if n, ok := p.Next(mustTime(t, "2026-11-01T05:30:00Z")); !ok || n.Key != "cron:2026-11-02T06:30:00Z" {
		t.Errorf("Next after the first 01:30 = %v, want the next day", n.Key)
	}
	every15, _ := NewPlan(&campaigns.Campaign{ID: "c", Schedule: campaigns.Schedule{Cron: "*/15 1 * * *", Timezone: "America/New_York"}})
	got, _ = every15.Between(mustTime(t, "2026-11-01T04:00:00Z"), mustTime(t, "2026-11-01T08:00:00Z"))
	if len(got) != 4 {
		t.Errorf("*/15 in the repeated hour: %v, want the four of the first pass only", keys(got))
	}
	// Tokyo has no daylight saving: nothing is dropped.
	tokyo, _ := NewPlan(&campaigns.Campaign{ID: "c", Schedule: campaigns.Schedule{Cron: "*/30 * * * *"}})
	got, _ = tokyo.Between(mustTime(t, "2026-11-01T00:00:00Z"), mustTime(t, "2026-11-01T23:59:00Z"))
	if len(got) != 48 {
		t.Errorf("Tokyo: %d occurrences in a day, want 48", len(got))
	}
}

func TestPlanCronInsideTheSkippedHourFiresOnceAfterTheGap(t *testing.T) {
	t.Parallel()
	ny, err := NewPlan(&campaigns.Campaign{ID: "c", Schedule: campaigns.Schedule{Cron: "30 2 * * *", Timezone: "America/New_York"}})
	if err != nil {
		t.Fatal(err)
	}
	// Clocks go forward at 02:00 EST on 2026-03-08: 02:30 does not exist
	// that day; it fires at 03:00 EDT (07:00Z), once.
	got, complete := ny.Between(mustTime(t, "2026-03-07T00:00:00Z"), mustTime(t, "2026-03-09T12:00:00Z"))
	want := "cron:2026-03-07T07:30:00Z cron:2026-03-08T07:00:00Z cron:2026-03-09T06:30:00Z"
	if !complete || strings.Join(keys(got), " ") != want {
		t.Errorf("spring forward: %v, want %v", keys(got), want)
	}
	// The interval's ends are inclusive for the gap occurrence too.
	got, _ = ny.Between(mustTime(t, "2026-03-08T07:00:00Z"), mustTime(t, "2026-03-08T07:00:00Z"))
	if strings.Join(keys(got), " ") != "cron:2026-03-08T07:00:00Z" {
		t.Errorf("a one-instant interval at the gap's end: %v", keys(got))
	}
	if n, ok := ny.Next(mustTime(t, "2026-03-07T07:30:00Z")); !ok || n.Key != "cron:2026-03-08T07:00:00Z" {
		t.Errorf("Next before the gap = %v %v, want cron:2026-03-08T07:00:00Z", n.Key, ok)
	}
	if n, ok := ny.Next(mustTime(t, "2026-03-08T07:00:00Z")); !ok || n.Key != "cron:2026-03-09T06:30:00Z" {
		t.Errorf("Next after the gap occurrence = %v %v, want the next day", n.Key, ok)
	}

	// Every quarter of the skipped hour: still one occurrence, at 03:00;
	// and a spec that also names 03:00 is not sent twice.
	for _, spec := range []string{"*/15 2 * * *", "0,30 2,3 * * *"} {
		p, _ := NewPlan(&campaigns.Campaign{ID: "c", Schedule: campaigns.Schedule{Cron: spec, Timezone: "America/New_York"}})
		got, _ := p.Between(mustTime(t, "2026-03-08T06:00:00Z"), mustTime(t, "2026-03-08T07:59:00Z"))
		if len(got) == 0 || got[0].Key != "cron:2026-03-08T07:00:00Z" {
			t.Errorf("%q: %v, want it to start with one occurrence at 07:00Z", spec, keys(got))
		}
		seen := map[string]bool{}
		for _, o := range got {
			if seen[o.Key] {
				t.Errorf("%q: %s twice in %v", spec, o.Key, keys(got))
			}
			seen[o.Key] = true
		}
	}

	// Berlin: forward at 02:00 CET on 2026-03-29, back at 03:00 CEST on
	// 2026-10-25 (02:00-03:00 happens twice there).
	berlin, _ := NewPlan(&campaigns.Campaign{ID: "c", Schedule: campaigns.Schedule{Cron: "30 2 * * *", Timezone: "Europe/Berlin"}})
	got, _ = berlin.Between(mustTime(t, "2026-03-28T00:00:00Z"), mustTime(t, "2026-03-30T12:00:00Z"))
	want = "cron:2026-03-28T01:30:00Z cron:2026-03-29T01:00:00Z cron:2026-03-30T00:30:00Z"
	if strings.Join(keys(got), " ") != want {
		t.Errorf("Berlin spring forward: %v, want %v", keys(got), want)
	}
	got, _ = berlin.Between(mustTime(t, "2026-10-24T00:00:00Z"), mustTime(t, "2026-10-26T12:00:00Z"))
	want = "cron:2026-10-24T00:30:00Z cron:2026-10-25T00:30:00Z cron:2026-10-26T01:30:00Z"
	if strings.Join(keys(got), " ") != want {
		t.Errorf("Berlin fall back: %v, want %v", keys(got), want)
	}

	// A spec that never falls in the gap is left alone, and a weekday
	// restriction is honoured on the transition date (2026-03-08 is a Sunday).
	for spec, want := range map[string]string{
		"30 4 * * *": "cron:2026-03-08T08:30:00Z",
		"30 2 * * 1": "",
		"30 2 * * 0": "cron:2026-03-08T07:00:00Z",
	} {
		p, _ := NewPlan(&campaigns.Campaign{ID: "c", Schedule: campaigns.Schedule{Cron: spec, Timezone: "America/New_York"}})
		got, _ := p.Between(mustTime(t, "2026-03-08T05:00:00Z"), mustTime(t, "2026-03-08T23:00:00Z"))
		if strings.Join(keys(got), " ") != want {
			t.Errorf("%q on the transition day: %v, want %q", spec, keys(got), want)
		}
	}
}

func TestPlanDaylightSavingNotes(t *testing.T) {
	t.Parallel()
	from, to := mustTime(t, "2026-11-29T00:00:00Z"), mustTime(t, "2054-11-29T00:00:00Z")
	notes := func(spec, tz string) []string {
		p, err := NewPlan(&campaigns.Campaign{ID: "c", Schedule: campaigns.Schedule{Cron: spec, Timezone: tz}})
		if err != nil {
			t.Fatal(err)
		}
		return p.DaylightSavingNotes(from, to)
	}
	got := notes("30 2 * * *", "America/New_York")
	if len(got) != 1 || !strings.Contains(got[0], "02:30, which does not exist on 2027-03-14") || !strings.Contains(got[0], "sent once, at 03:00 EDT") {
		t.Errorf("New York 02:30: %q", got)
	}
	got = notes("30 1 * * *", "America/New_York")
	if len(got) != 1 || !strings.Contains(got[0], "01:30, which happens twice on 2027-11-07 (clocks go back 1h at 02:00)") {
		t.Errorf("New York 01:30: %q", got)
	}
	// Berlin changes at 02:00 and 03:00: a */30 in hours 2 and 3 meets both.
	if got = notes("*/30 2 * * *", "Europe/Berlin"); len(got) != 2 {
		t.Errorf("Berlin 02:xx: %q, want a gap and a repeat", got)
	}
	// Sundays only in March: the US change falls on a Sunday; the 1st never does in March.
	if got = notes("30 2 * 3 0", "America/New_York"); len(got) != 1 {
		t.Errorf("Sundays of March at 02:30: %q, want the gap", got)
	}
	for _, c := range [][2]string{{"30 2 1 3 *", "America/New_York"}, {"0 9 * * *", "America/New_York"}, {"30 2 * * *", "Asia/Tokyo"}, {"30 2 * * *", "UTC"}} {
		if got := notes(c[0], c[1]); len(got) != 0 {
			t.Errorf("%s in %s: %q, want no note", c[0], c[1], got)
		}
	}
}
