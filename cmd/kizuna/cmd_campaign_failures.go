package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"unicode"

	"github.com/jmoiron/sqlx"
	"github.com/spf13/cobra"

	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/tz"
)

// statusView is what `campaign status` shows beyond the counts: only run
// N (run > 0), and each run's failed deliveries.
type statusView struct {
	run      int
	failures bool
}

// runFailures is a run of `campaign status --json --failures`: the
// SPEC.md keys plus "failures" (at most runs.FailuresLimit of them; the
// run's "failed" count says how many there are in all).
type runFailures struct {
	runs.RunStatus
	Failures []runs.Failure `json:"failures"`
}

type statusFailuresDoc struct {
	ID      string         `json:"id"`
	Runs    []runFailures  `json:"runs"`
	Skipped []skippedEntry `json:"skipped"`
}

// selectRun keeps only run v.run of st, or returns a usage error when the
// campaign has no such run.
func (v statusView) selectRun(id string, st []runs.RunStatus) ([]runs.RunStatus, error) {
	if v.run == 0 {
		return st, nil
	}
	for _, r := range st {
		if r.Run == v.run {
			return []runs.RunStatus{r}, nil
		}
	}
	return nil, usageErr("campaign %s has no run %d", id, v.run)
}

// showStatus prints the status st of campaign id as v asks: the table or
// the SPEC.md document, with the failed deliveries when v.failures.
func (a *App) showStatus(ctx context.Context, db *sqlx.DB, id string, st []runs.RunStatus, asJSON bool, v statusView) error {
	skipped, err := statusSkipped(ctx, db, id, st)
	if err != nil {
		return a.failJSON(asJSON, err)
	}
	st, err = v.selectRun(id, st)
	if err != nil {
		return a.failJSON(asJSON, err)
	}
	if !v.failures {
		if asJSON {
			return a.writeJSON(statusDoc{ID: id, Runs: st, Skipped: skipped})
		}
		a.printStatusTable(id, st)
		a.printSkipped("", skipped)
		return nil
	}
	doc := statusFailuresDoc{ID: id, Runs: make([]runFailures, 0, len(st)), Skipped: skipped}
	for _, r := range st {
		f := []runs.Failure{}
		if r.Failed > 0 {
			if f, err = runs.Failures(ctx, db, r.ID, runs.FailuresLimit); err != nil {
				return a.failJSON(asJSON, err)
			}
		}
		doc.Runs = append(doc.Runs, runFailures{RunStatus: r, Failures: f})
	}
	if asJSON {
		return a.writeJSON(doc)
	}
	a.printStatusTable(id, st)
	a.printSkipped("", skipped)
	for _, r := range doc.Runs {
		a.printFailures(r)
	}
	return nil
}

// printFailures lists one run's failed deliveries under the status table.
func (a *App) printFailures(r runFailures) {
	if r.Failed == 0 {
		fmt.Fprintf(a.Stdout, "\nrun %d: no failed deliveries\n", r.Run)
		return
	}
	fmt.Fprintf(a.Stdout, "\nrun %d: %d failed\n", r.Run, r.Failed)
	tw := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  ADDRESS\tFAILED AT\tATTEMPTS\tHARD BOUNCE\tREPLY")
	for _, f := range r.Failures {
		addr := "(forgotten)"
		if f.Email != nil {
			addr = oneLine(*f.Email)
		}
		hard := "no"
		if f.HardBounce {
			hard = "yes"
		}
		reply := oneLine(f.Reply)
		if reply == "" {
			reply = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\n", addr, f.At.In(tz.Tokyo()).Format("2006-01-02 15:04:05 MST"), f.Attempts, hard, reply)
	}
	tw.Flush()
	if more := r.Failed - int64(len(r.Failures)); more > 0 {
		fmt.Fprintf(a.Stdout, "  ... and %d more (the first %d are shown)\n", more, len(r.Failures))
	}
}

// oneLine makes text from the relay or the roster safe for one line of a
// table: control characters (a multi-line SMTP reply, an escape sequence)
// become spaces, runs of spaces one.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// ---- retry ----

func (a *App) campaignRetryCommand() *cobra.Command {
	var number int
	cmd := &cobra.Command{
		Use:   "retry ID",
		Short: "Send again, once, to the failed deliveries of the last run (or run N)",
		Long: `Send again to exactly the failed deliveries of the campaign's last run (or
run N): the same deliveries go back to the queue (attempts start again from
0; the relay's last reply stays on each until the next attempt replaces it),
and a worker sends them. Deliveries to people who bounced hard, unsubscribed,
were forgotten or are on the suppression list stay failed; the command says
how many it queued and how many it skipped, and why.

A finished run is reopened (done → sending) while they are sent. Retrying
again while they are still queued queues nothing twice: it only picks up
deliveries that failed again. A paused run must be resumed first; a
cancelled run is never sent again (start a new run with --again).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			id := args[0]
			db, all, err := a.campaignRuns(ctx, id)
			if err != nil {
				return err
			}
			var run *runs.Run
			for i := range all {
				if !cmd.Flags().Changed("run") || all[i].Number == number {
					run = &all[i]
				}
			}
			switch {
			case run == nil && cmd.Flags().Changed("run"):
				return usageErr("campaign %s has no run %d", id, number)
			case run == nil:
				fmt.Fprintf(a.Stdout, "Campaign %s has no runs yet: nothing to retry.\n", id)
				return nil
			}
			res, err := runs.Retry(ctx, db, run.ID)
			if errors.Is(err, runs.ErrState) {
				if res.Before == runs.StatePaused {
					return usageErr("run %d of %s is paused; resume it first (`kizuna campaign resume %s --run %d`), then retry", run.Number, id, id, run.Number)
				}
				return usageErr("run %d of %s was cancelled and is not sent again; `kizuna campaign start %s --again` starts a new run", run.Number, id, id)
			}
			if err != nil {
				return err
			}
			a.reportRetry(id, run.Number, res)
			return nil
		},
	}
	cmd.Flags().IntVar(&number, "run", 0, "retry run N instead of the last run")
	return cmd
}

func (a *App) reportRetry(id string, number int, res runs.RetryResult) {
	if res.Queued == 0 && res.Skipped() == 0 {
		fmt.Fprintf(a.Stdout, "Run %d of %s has no failed deliveries: nothing to retry.\n", number, id)
		return
	}
	fmt.Fprintf(a.Stdout, "Run %d of %s: queued %d failed %s again", number, id, res.Queued, plural(res.Queued, "delivery", "deliveries"))
	if res.Skipped() > 0 {
		var why []string
		for _, c := range []struct {
			n    int64
			what string
		}{{res.Bounced, "bounced"}, {res.Unsubscribed, "unsubscribed"}, {res.Suppressed, "suppressed or forgotten"}} {
			if c.n > 0 {
				why = append(why, fmt.Sprintf("%d %s", c.n, c.what))
			}
		}
		fmt.Fprintf(a.Stdout, "; skipped %d that stay failed (%s)", res.Skipped(), strings.Join(why, ", "))
	}
	fmt.Fprintln(a.Stdout, ".")
	if res.Before != res.After {
		fmt.Fprintf(a.Stdout, "Run %d: %s → %s.\n", number, res.Before, res.After)
	}
	if res.Queued > 0 {
		fmt.Fprintf(a.Stdout, "A running `kizuna worker` sends them; follow with `kizuna campaign status %s --watch`.\n", id)
	}
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
