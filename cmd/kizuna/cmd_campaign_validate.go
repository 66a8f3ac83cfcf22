package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/scheduler"
)

// reachTimeout bounds the optional database part of validate: it must stay
// quick and work offline.
const reachTimeout = 3 * time.Second

// validateReport is the --json document of `kizuna campaign validate`
// (SPEC.md, Machine-readable output).
type validateReport struct {
	OK        bool                `json:"ok"`
	Campaigns []validatedCampaign `json:"campaigns"`
	Errors    []validateError     `json:"errors"`
	// Warnings (added to SPEC.md's shape) are notes that do not make a
	// file invalid: a cron time a daylight-saving change skips or repeats, a
	// one-off at already past.
	Warnings []validateError `json:"warnings"`
}

type validatedCampaign struct {
	ID    string `json:"id"`
	File  string `json:"file"`
	Reach *int   `json:"reach"`
	// Empty (added to SPEC.md's shape; null when the database did not
	// answer): per locale and field the subject or body uses that may be
	// empty, how many of the reach would get an empty value, and the
	// fallback they get instead (null: none).
	Empty []runs.EmptyCount `json:"empty"`
}

type validateError struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Col     int    `json:"col"`
	Message string `json:"message"`
}

func (a *App) campaignValidateCommand() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "validate PATH...",
		Short: "Check campaign files or folders without sending anything",
		Long: `Check campaign files or folders without sending anything.

A folder means every *.yaml/*.yml in it, with its kizuna.yaml as defaults; a
single file uses the kizuna.yaml beside it. Every problem is printed to stderr
as file:line:col: message. Works offline; when the database is reachable, each
valid campaign's reach (how many alumni it would go to now) is shown too.

Warnings (file:line:col: warning: ...) do not change the exit status: a cron
time that a daylight-saving change of its zone skips (sent once at the end of
the gap) or repeats (sent once), and a one-off at that is already past (the
scheduler does not send it; kizuna campaign start does).

Exit status 0 when everything is valid, 2 when anything is not.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runValidate(cmd.Context(), args, asJSON)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print one JSON document on stdout")
	return c
}

func (a *App) runValidate(ctx context.Context, paths []string, asJSON bool) error {
	cs, probs := campaigns.Load(paths...)
	if len(cs) == 0 && len(probs) == 0 {
		for _, p := range paths {
			probs = append(probs, campaigns.Problem{File: p, Message: "no campaign files (*.yaml, *.yml) found"})
		}
	}
	reaches, empties := a.reaches(ctx, cs)

	report := validateReport{OK: len(probs) == 0, Campaigns: []validatedCampaign{}, Errors: []validateError{}, Warnings: []validateError{}}
	for i, c := range cs {
		report.Campaigns = append(report.Campaigns, validatedCampaign{ID: c.ID, File: c.File, Reach: reaches[i], Empty: empties[i]})
	}
	for _, p := range probs {
		report.Errors = append(report.Errors, validateError{File: p.File, Line: p.Line, Col: p.Col, Message: p.Message})
		fmt.Fprintln(a.Stderr, p.String())
	}
	for i, c := range cs {
		if msg := emptyUncovered(empties[i]); msg != "" {
			fmt.Fprintf(a.Stderr, "%s: warning: %s, with no fallback: `kizuna campaign start` refuses this without --yes-empty\n", c.File, msg)
		}
	}
	for _, p := range scheduleWarnings(cs, a.now()) {
		report.Warnings = append(report.Warnings, validateError{File: p.File, Line: p.Line, Col: p.Col, Message: p.Message})
		p.Message = "warning: " + p.Message
		fmt.Fprintln(a.Stderr, p.String())
	}
	if asJSON {
		if err := a.writeJSON(report); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
		for i, c := range cs {
			reach := "reach unknown"
			if reaches[i] != nil {
				reach = fmt.Sprintf("reach %d", *reaches[i])
			}
			if e := emptySummary(empties[i]); e != "" {
				reach += "\t" + e
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.Kind, c.File, c.Schedule.Summary(), reach)
		}
		tw.Flush()
	}
	if len(probs) > 0 {
		if !asJSON {
			fmt.Fprintf(a.Stderr, "kizuna: %d problem(s) in the campaign files\n", len(probs))
		}
		return silentExit(exitUsage)
	}
	return nil
}

// reaches counts each campaign's audience, and the empty values it would
// get (runs.EmptyFields: one query per campaign), when the database
// answers within reachTimeout; otherwise every reach and count is nil and a
// note goes to stderr. Validation itself never needs the database.
func (a *App) reaches(ctx context.Context, cs []*campaigns.Campaign) ([]*int, [][]runs.EmptyCount) {
	out := make([]*int, len(cs))
	empties := make([][]runs.EmptyCount, len(cs))
	if len(cs) == 0 {
		return out, empties
	}
	ctx, cancel := context.WithTimeout(ctx, reachTimeout)
	defer cancel()
	db, err := a.DB(ctx)
	if err != nil {
		fmt.Fprintf(a.Stderr, "kizuna: note: reach not computed, the database is not reachable: %s\n", a.cfg.Scrub(err.Error()))
		return out, empties
	}
	for i, c := range cs {
		n, err := runs.Reach(ctx, db, c)
		if err != nil {
			fmt.Fprintf(a.Stderr, "kizuna: note: reach not computed: %s\n", a.cfg.Scrub(err.Error()))
			return make([]*int, len(cs)), make([][]runs.EmptyCount, len(cs))
		}
		out[i] = &n
		e, err := runs.EmptyFields(ctx, db, c)
		if err != nil {
			fmt.Fprintf(a.Stderr, "kizuna: note: empty values not counted: %s\n", a.cfg.Scrub(err.Error()))
			return out, make([][]runs.EmptyCount, len(cs))
		}
		if e == nil {
			e = []runs.EmptyCount{}
		}
		empties[i] = e
	}
	return out, empties
}

// dstHorizon is how far ahead validate looks for daylight-saving changes
// that meet a cron: 28 years, after which the Gregorian calendar's weekdays
// repeat (within 1901-2099), so a spec restricted to some days or weekdays
// has met every date its zone's rules produce.
const dstHorizon = 28

// scheduleWarnings notes, at the cron or at field of each campaign, what the
// scheduler will do differently from what the file seems to say: a cron
// time that a daylight-saving change of its zone skips or repeats in the
// coming years, and a one-off at that is already past at now (SPEC.md,
// Campaign files: it is reported, not sent automatically).
func scheduleWarnings(cs []*campaigns.Campaign, now time.Time) []campaigns.Problem {
	var out []campaigns.Problem
	for _, c := range cs {
		if at := c.Schedule.At; at != nil && at.Before(now) {
			out = append(out, c.At("schedule.at", fmt.Sprintf(
				"schedule.at %s is already past: the scheduler will not send it; `kizuna campaign start %s` sends it now",
				at.Format(time.RFC3339), c.ID)))
		}
		if c.Schedule.Cron == "" {
			continue
		}
		plan, err := scheduler.NewPlan(c)
		if err != nil {
			continue // a valid file compiles; NewPlan's own errors are the scheduler's to log
		}
		for _, note := range plan.DaylightSavingNotes(now, now.AddDate(dstHorizon, 0, 0)) {
			out = append(out, c.At("schedule.cron", note))
		}
	}
	return out
}
