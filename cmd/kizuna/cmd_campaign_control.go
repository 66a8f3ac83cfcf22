package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"text/tabwriter"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/spf13/cobra"

	"github.com/kizuna-alumni/kizuna/internal/progress"
	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/scheduler"
	"github.com/kizuna-alumni/kizuna/internal/store"
	"github.com/kizuna-alumni/kizuna/internal/tz"
)

// campaignIDPattern is the id syntax of SPEC.md (Campaign files).
var campaignIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// latestVersion returns the current version of a campaign (what its file
// held when last registered), or ok false for an unknown id.
func latestVersion(ctx context.Context, db *sqlx.DB, id string) (versionID int64, ok bool, err error) {
	versionID, err = runs.CurrentVersion(ctx, db, id)
	if errors.Is(err, store.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("campaign %s: %w", id, err)
	}
	return versionID, true, nil
}

func unknownCampaign(id string) error {
	return usageErr("unknown campaign %q (see `kizuna campaign list`)", id)
}

// ---- list ----

// listEntry is one element of `campaign list --json` (SPEC.md).
type listEntry struct {
	ID      string  `json:"id"`
	Kind    string  `json:"kind"`
	NextAt  *string `json:"next_at"`
	LastRun *int    `json:"last_run"`
	// Skipped (added to SPEC.md's shape): the occurrences skipped since the
	// campaign was last started by hand, newest first.
	Skipped []skippedEntry `json:"skipped"`
	// lastManual is when the campaign was last started by hand.
	lastManual *time.Time
}

// skippedEntry is an occurrence no scheduler started within max_late, as
// `campaign list --json` and `campaign status --json` show it.
type skippedEntry struct {
	DueAt      string `json:"due_at"` // RFC 3339 UTC
	Kind       string `json:"kind"`   // send | reminder
	Occurrence string `json:"occurrence"`
	Reason     string `json:"reason"`  // no_scheduler | late
	Command    string `json:"command"` // what sends it now; "" for a reminder
}

// skippedEntries converts skipped occurrences; hasRuns decides whether the
// command needs --again.
func skippedEntries(id string, list []scheduler.Skipped, hasRuns bool) []skippedEntry {
	out := make([]skippedEntry, 0, len(list))
	for _, s := range list {
		out = append(out, skippedEntry{DueAt: s.DueAt.UTC().Format(time.RFC3339), Kind: s.Kind, Occurrence: s.Occurrence,
			Reason: s.Reason, Command: scheduler.SendCommand(id, s.Kind, hasRuns)})
	}
	return out
}

// maxSkippedShown bounds the skipped occurrences printed per campaign.
const maxSkippedShown = 10

// printSkipped writes one line per skipped occurrence ("skipped: 2026-11-01
// 09:00 JST, missed while no scheduler ran — send it with: kizuna campaign
// start ID"), each prefixed with prefix, at most maxSkippedShown of them.
func (a *App) printSkipped(prefix string, list []skippedEntry) {
	for i, s := range list {
		if i == maxSkippedShown {
			fmt.Fprintf(a.Stdout, "%sand %d more skipped occurrence(s) (kizuna campaign status --json lists them)\n", prefix, len(list)-i)
			break
		}
		due, _ := time.Parse(time.RFC3339, s.DueAt)
		why := scheduler.Skipped{Reason: s.Reason}.Why()
		how := "send it with: " + s.Command
		if s.Command == "" {
			how = "a missed reminder is not sent late"
		}
		fmt.Fprintf(a.Stdout, "%sskipped: %s, %s — %s\n", prefix, due.In(tz.Tokyo()).Format("2006-01-02 15:04 MST"), why, how)
	}
}

func (a *App) campaignListCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the campaigns known to the database, their next occurrence and last run",
		Long: `List the campaigns known to the database (started once, or loaded by a
scheduler), with the next occurrence of their latest version's schedule (a
future at, the next cron time or event reminder) and their last run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			db, err := a.DB(ctx)
			if err != nil {
				return a.failJSON(asJSON, err)
			}
			list, err := listCampaigns(ctx, db, time.Now())
			if err != nil {
				return a.failJSON(asJSON, err)
			}
			if asJSON {
				return a.writeJSON(list)
			}
			if len(list) == 0 {
				fmt.Fprintln(a.Stdout, "No campaigns yet: `kizuna campaign start FILE` or `kizuna scheduler --campaigns DIR` registers them.")
				return nil
			}
			tw := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tKIND\tNEXT\tLAST RUN")
			for _, e := range list {
				next, last := "-", "-"
				if e.NextAt != nil {
					t, _ := time.Parse(time.RFC3339, *e.NextAt)
					next = t.In(tz.Tokyo()).Format("2006-01-02 15:04 MST")
				}
				if e.LastRun != nil {
					last = fmt.Sprint(*e.LastRun)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.ID, e.Kind, next, last)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			for _, e := range list {
				a.printSkipped(e.ID+" ", e.Skipped)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// Layouts of a time a person reads on the terminal: always with the zone's
// abbreviation, "2026-12-01 10:00 JST". JSON output keeps RFC 3339.
const (
	humanStamp        = "2006-01-02 15:04 MST"
	humanStampSeconds = "2006-01-02 15:04:05 MST"
)

// humanTime is t in the product's display zone (Asia/Tokyo) with its
// abbreviation, "2026-12-01 10:00 JST".
func humanTime(t time.Time) string { return t.In(tz.Tokyo()).Format(humanStamp) }

// humanRFC3339 rewrites an RFC 3339 time (as the JSON shapes carry) with
// humanTime; text that is not one is returned as it is.
func humanRFC3339(s string) string {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return s
	}
	return humanTime(t)
}

func listCampaigns(ctx context.Context, db *sqlx.DB, now time.Time) ([]listEntry, error) {
	rows, err := runs.Campaigns(ctx, db)
	if err != nil {
		return nil, err
	}
	skipped, err := scheduler.ListSkipped(ctx, db, "")
	if err != nil {
		return nil, err
	}
	byID := map[string][]scheduler.Skipped{}
	for _, s := range skipped {
		byID[s.CampaignID] = append(byID[s.CampaignID], s)
	}
	out := make([]listEntry, 0, len(rows))
	for _, r := range rows {
		e := listEntry{ID: r.ID, Kind: r.Kind}
		var open []scheduler.Skipped
		for _, s := range byID[r.ID] {
			if !r.LastManual.Valid || s.RecordedAt.After(r.LastManual.Time) {
				open = append(open, s)
			}
		}
		e.Skipped = skippedEntries(r.ID, open, r.LastRun.Valid)
		if r.LastRun.Valid {
			n := int(r.LastRun.Int64)
			e.LastRun = &n
		}
		if r.VersionID.Valid {
			c, err := runs.LoadVersion(ctx, db, r.VersionID.Int64)
			if err != nil {
				return nil, err
			}
			if plan, err := scheduler.NewPlan(c); err == nil {
				if o, ok := plan.Next(now); ok {
					s := o.At.UTC().Format(time.RFC3339)
					e.NextAt = &s
				}
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// ---- status ----

// statusDoc is `campaign status --json` (SPEC.md).
type statusDoc struct {
	ID   string           `json:"id"`
	Runs []runs.RunStatus `json:"runs"`
	// Skipped (added to SPEC.md's shape): every occurrence no scheduler
	// started within max_late, newest first.
	Skipped []skippedEntry `json:"skipped"`
}

// statusSkipped returns the skipped occurrences of campaign id for status.
func statusSkipped(ctx context.Context, db *sqlx.DB, id string, st []runs.RunStatus) ([]skippedEntry, error) {
	list, err := scheduler.ListSkipped(ctx, db, id)
	if err != nil {
		return nil, err
	}
	return skippedEntries(id, list, len(st) > 0), nil
}

func (a *App) campaignStatusCommand() *cobra.Command {
	var asJSON, watch bool
	var view statusView
	cmd := &cobra.Command{
		Use:   "status ID",
		Short: "Show the counts of each run of a campaign",
		Long: `Show, per run, how many deliveries are pending, sent, failed or suppressed,
and what recipients did (opened, clicked, unsubscribed, replied, bounced,
RSVPs). --watch refreshes every second with a progress bar, the rate and the
time left, until no run is expanding, sending or waiting. --failures lists,
under each run, its failed deliveries (the first 1000): address ("(forgotten)"
for a person since forgotten), when it failed, attempts, whether it was a
hard bounce, and the relay's reply. --run N shows run N only.

With --json, stdout holds one JSON document: the shape of SPEC.md, or
{"error": "..."} when the command fails (an unknown id exits 2). With
--failures each run also carries "failures": [{"delivery", "email" (null
when forgotten), "at" (RFC 3339 UTC), "attempts", "reply", "hard_bounce"}].`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			id := args[0]
			db, err := a.knownCampaign(ctx, id)
			if err != nil {
				return a.failJSON(asJSON, err)
			}
			if cmd.Flags().Changed("run") && view.run <= 0 {
				return a.failJSON(asJSON, usageErr("--run %d: runs are numbered from 1", view.run))
			}
			st, err := runs.Status(ctx, db, id)
			if err != nil {
				return a.failJSON(asJSON, err)
			}
			if _, err := view.selectRun(id, st); err != nil {
				return a.failJSON(asJSON, err)
			}
			if watch {
				return a.watchStatus(ctx, db, id, asJSON, view)
			}
			return a.showStatus(ctx, db, id, st, asJSON, view)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (with --watch: the final status)")
	cmd.Flags().BoolVar(&watch, "watch", false, "refresh until the active runs finish")
	cmd.Flags().BoolVar(&view.failures, "failures", false, "list each run's failed deliveries (address, time, attempts, the relay's reply)")
	cmd.Flags().IntVar(&view.run, "run", 0, "show run N only")
	return cmd
}

func (a *App) printStatusTable(id string, st []runs.RunStatus) {
	if len(st) == 0 {
		fmt.Fprintf(a.Stdout, "Campaign %s has no runs yet.\n", id)
		return
	}
	tw := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "RUN\tKIND\tSTARTED\tSTATE\tTOTAL\tPENDING\tSENT\tFAILED\tSUPPRESSED\tOPENED\tCLICKED\tUNSUBSCRIBED\tREPLIED\tBOUNCED\tYES\tNO\tMAYBE\tWAITLISTED\t")
	for _, r := range st {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n",
			r.Run, r.Kind, humanTime(r.StartedAt), r.State,
			r.Total, r.Pending, r.Sent, r.Failed, r.Suppressed, r.Opened, r.Clicked, r.Unsubscribed,
			r.Replied, r.Bounced, r.RSVPYes, r.RSVPNo, r.RSVPMaybe, r.Waitlisted)
	}
	tw.Flush()
	for _, r := range st {
		if r.State == runs.StatePaused && r.PauseReason != "" {
			fmt.Fprintf(a.Stdout, "run %d paused: %s\n", r.Run, r.PauseReason)
		}
		if h := holdText(r.Hold, time.Now()); h != "" {
			fmt.Fprintf(a.Stdout, "run %d %s\n", r.Run, h)
		}
		if r.MachineOpens > 0 || r.ScannerClicks > 0 {
			fmt.Fprintf(a.Stdout, "run %d machine opens (privacy proxies, scanners): %d, scanner clicks: %d (not counted in OPENED and CLICKED)\n",
				r.Run, r.MachineOpens, r.ScannerClicks)
		}
	}
}

// holdText says why a run waits and until when ("" when it does not):
// times in JST, a send window's in the recipient's own time zone.
func holdText(h *runs.Hold, now time.Time) string {
	if h == nil {
		return ""
	}
	const stamp = "2006-01-02 15:04 MST"
	switch h.Reason {
	case runs.HoldRelay:
		next := "now"
		if h.Until.After(now) {
			next = h.Until.In(tz.Tokyo()).Format("15:04:05 MST")
		}
		return fmt.Sprintf("waits for the relay since %s (%s): %s; next try %s. No attempt is used; sending carries on by itself when the relay answers.",
			h.Since.In(tz.Tokyo()).Format(stamp), now.Sub(h.Since).Round(time.Second), oneLine(h.Detail), next)
	case runs.HoldQuota:
		return fmt.Sprintf("waits for the relay account's daily quota (kizuna.yaml throttle per_day) until %s.", h.Until.In(tz.Tokyo()).Format(stamp))
	case runs.HoldWindow:
		zone := tz.Load(h.Detail)
		return fmt.Sprintf("waits for its send window, which next opens %s (%s, the recipient's time zone).",
			h.Until.In(zone).Format(stamp), zone)
	}
	return ""
}

// watchStatus refreshes the status every second until no run is active or
// ctx ends (Ctrl-C). On a terminal it redraws a progress line per active
// run; elsewhere it prints a status line every few seconds.
func (a *App) watchStatus(ctx context.Context, db *sqlx.DB, id string, asJSON bool, view statusView) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	tty := !asJSON && isTerminal(a.Stdout)
	meters := map[int]*progress.Meter{}
	drawn := 0
	var last []runs.RunStatus
	lastPrint := time.Time{}
	for {
		st, err := runs.Status(ctx, db, id)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return a.failJSON(asJSON, err)
		}
		last = st
		now := time.Now()
		var lines []string
		active := 0
		for _, r := range st {
			// Show active and paused runs, and keep showing a run that
			// finished while watched, in its final state.
			if !runs.IsActive(r.State) && r.State != runs.StatePaused && meters[r.Run] == nil {
				continue
			}
			if runs.IsActive(r.State) {
				active++
			}
			m := meters[r.Run]
			if m == nil {
				m = &progress.Meter{}
				meters[r.Run] = m
			}
			done := int(r.Total - r.Pending)
			m.Observe(done, now)
			line := fmt.Sprintf("%s  %s", progress.Line(fmt.Sprintf("run %d %-9s", r.Run, r.State), done, int(r.Total), m),
				fmt.Sprintf("sent %d failed %d suppressed %d", r.Sent, r.Failed, r.Suppressed))
			if h := holdText(r.Hold, now); h != "" {
				line += "  " + h
			}
			lines = append(lines, line)
		}
		switch {
		case asJSON:
		case tty:
			if drawn > 0 {
				fmt.Fprintf(a.Stdout, "\x1b[%dA", drawn)
			}
			for _, l := range lines {
				fmt.Fprintf(a.Stdout, "\r\x1b[2K%s\n", l)
			}
			drawn = len(lines)
		case now.Sub(lastPrint) >= 5*time.Second || active == 0:
			for _, l := range lines {
				fmt.Fprintf(a.Stdout, "%s %s\n", now.In(tz.Tokyo()).Format(humanStampSeconds), l)
			}
			lastPrint = now
		}
		if active == 0 {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
		if ctx.Err() != nil {
			break
		}
	}
	return a.showStatus(context.WithoutCancel(ctx), db, id, last, asJSON, view)
}

// ---- pause / resume / cancel ----

func (a *App) campaignPauseCommand() *cobra.Command {
	return a.runControlCommand("pause", "Pause a campaign's active runs (deliveries wait; nothing is lost)",
		func(r runs.Run) bool { return r.Active() }, func(r runs.Run) bool { return r.State == runs.StatePaused },
		func(ctx context.Context, db *sqlx.DB, r runs.Run) error {
			return runs.Pause(ctx, db, r.ID, "paused by kizuna campaign pause")
		})
}

func (a *App) campaignResumeCommand() *cobra.Command {
	return a.runControlCommand("resume", "Resume a campaign's paused runs",
		func(r runs.Run) bool { return r.State == runs.StatePaused }, runs.Run.Active,
		func(ctx context.Context, db *sqlx.DB, r runs.Run) error { return runs.Resume(ctx, db, r.ID) })
}

func (a *App) campaignCancelCommand() *cobra.Command {
	return a.runControlCommand("cancel", "Cancel a campaign's active or paused runs (unsent deliveries are cancelled)",
		func(r runs.Run) bool { return r.Active() || r.State == runs.StatePaused }, func(r runs.Run) bool { return r.State == runs.StateCancelled },
		func(ctx context.Context, db *sqlx.DB, r runs.Run) error { return runs.Cancel(ctx, db, r.ID) })
}

// runControlCommand builds pause, resume and cancel: each applies op to the
// campaign's runs that applies selects, or to run N. A run N already as
// the operation would leave it is left alone (exit 0); a run the operation
// cannot apply to (pausing a finished run) is bad usage.
func (a *App) runControlCommand(verb, short string, applies, already func(runs.Run) bool,
	op func(context.Context, *sqlx.DB, runs.Run) error) *cobra.Command {
	var number int
	cmd := &cobra.Command{
		Use:   verb + " ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			id := args[0]
			db, all, err := a.campaignRuns(ctx, id)
			if err != nil {
				return err
			}
			var chosen []runs.Run
			if cmd.Flags().Changed("run") {
				for _, r := range all {
					if r.Number == number {
						chosen = append(chosen, r)
					}
				}
				if len(chosen) == 0 {
					return usageErr("campaign %s has no run %d", id, number)
				}
				r := chosen[0]
				if already(r) {
					fmt.Fprintf(a.Stdout, "Run %d of %s is already %s.\n", r.Number, id, r.State)
					return nil
				}
				if !applies(r) {
					return usageErr("run %d of %s is %s; it cannot be %s", r.Number, id, r.State, pastTense(verb))
				}
			} else {
				for _, r := range all {
					if applies(r) {
						chosen = append(chosen, r)
					}
				}
				if len(chosen) == 0 {
					fmt.Fprintf(a.Stdout, "Campaign %s has no run to %s.\n", id, verb)
					return nil
				}
			}
			for _, r := range chosen {
				if err := op(ctx, db, r); err != nil {
					if errors.Is(err, runs.ErrState) {
						now, _ := runs.Get(ctx, db, r.ID)
						return usageErr("run %d of %s is %s now; it cannot be %s", r.Number, id, now.State, pastTense(verb))
					}
					return err
				}
				after, err := runs.Get(ctx, db, r.ID)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.Stdout, "Run %d of %s: %s → %s.\n", r.Number, id, r.State, after.State)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&number, "run", 0, "only run N")
	return cmd
}

func pastTense(verb string) string {
	switch verb {
	case "pause":
		return "paused"
	case "resume":
		return "resumed"
	}
	return verb + "led"
}
