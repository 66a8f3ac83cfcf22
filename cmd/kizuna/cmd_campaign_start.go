package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/runs"
)

// ---- start ----

func (a *App) campaignStartCommand() *cobra.Command {
	var yes, again, yesEmpty bool
	cmd := &cobra.Command{
		Use:   "start FILE|ID",
		Short: "Start a run of a campaign now, whatever its schedule",
		Long: `Start a run now: from a campaign FILE (validated first), or from the latest
version of campaign ID that the database knows. On a terminal it shows the
reach and asks to confirm; --yes skips the question, and is required when
not on a terminal. A campaign that already has a run needs --again.

Before it starts, it counts the recipients who would get an empty value in a
field the subject or body uses ({{.FamilyName}}, ...): those the campaign's
fallback covers are listed; if any is left uncovered, start refuses (exit 2)
unless --yes-empty.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := a.cfg.RequireSecret(); err != nil {
				return invalidInput(err)
			}
			c, err := a.campaignForStart(ctx, args[0])
			if err != nil {
				return err
			}
			if c.Event != nil && c.Event.Cancelled {
				return usageErr("campaign %s: the event is cancelled (event.cancelled: true), so no invitation is sent; the scheduler (kizuna run or kizuna scheduler) tells everyone who answered yes or maybe", c.ID)
			}
			db, err := a.DB(ctx)
			if err != nil {
				return err
			}
			existing, err := runs.ListRuns(ctx, db, c.ID)
			if err != nil {
				return err
			}
			if len(existing) > 0 && !again {
				last := existing[len(existing)-1]
				return usageErr("campaign %s already has %d run(s) (the last, run %d, started %s, is %s); pass --again to start another",
					c.ID, len(existing), last.Number, humanTime(last.StartedAt), last.State)
			}
			reach, err := runs.Reach(ctx, db, c)
			if err != nil {
				return err
			}
			empties, err := runs.EmptyFields(ctx, db, c)
			if err != nil {
				return err
			}
			if msg := emptyUncovered(empties); msg != "" && !yesEmpty {
				return usageErr("campaign %s: %s, with no fallback; %s", c.ID, msg, emptyHint)
			}
			for _, line := range emptyFallbacksUsed(empties) {
				fmt.Fprintln(a.Stdout, line)
			}
			if !yes {
				if !isTerminal(a.Stdin) || !isTerminal(a.Stdout) {
					return usageErr("campaign %s would go to %d alumni; not on a terminal, so pass --yes to start it", c.ID, reach)
				}
				ok, err := confirm(a.Stdin, a.Stdout, fmt.Sprintf("Campaign %s (%s): send to %d alumni? [y/N] ", c.ID, c.Kind, reach))
				if err != nil {
					return err
				}
				if !ok {
					fmt.Fprintln(a.Stderr, "Not started.")
					return silentExit(exitFailure)
				}
			}
			enqueue, err := a.taskEnqueuer()
			if err != nil {
				return err
			}
			occurrence := "manual:" + time.Now().UTC().Format(time.RFC3339Nano)
			st, err := runs.Start(ctx, db, c, occurrence, runs.KindSend, enqueue)
			var ee *runs.ExpansionError
			if errors.As(err, &ee) {
				return fmt.Errorf("run %d of %s created; %w (workers resume the expansion)", st.Run.Number, c.ID, ee.Err)
			}
			if err != nil {
				return err
			}
			r, n := st.Run, st.Deliveries
			fmt.Fprintf(a.Stdout, "Started run %d of %s: %d deliveries.\nWatch it: kizuna campaign status %s --watch\n", r.Number, c.ID, n, c.ID)
			return nil
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&yesEmpty, "yes-empty", false, "start even if some recipients would get an empty value that no fallback covers")
	cmd.Flags().BoolVar(&again, "again", false, "start another run of a campaign that already has one")
	return cmd
}

// campaignForStart resolves FILE|ID: an existing path (or anything that is
// not an id) is loaded and validated; an id is the latest version the
// database knows.
func (a *App) campaignForStart(ctx context.Context, arg string) (*campaigns.Campaign, error) {
	_, statErr := os.Stat(arg)
	if statErr == nil || !campaignIDPattern.MatchString(arg) {
		return a.loadCampaignFile(arg)
	}
	db, err := a.DB(ctx)
	if err != nil {
		return nil, err
	}
	vid, ok, err := latestVersion(ctx, db, arg)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, usageErr("unknown campaign %q: neither a file nor a campaign the database knows (see `kizuna campaign list`)", arg)
	}
	return runs.LoadVersion(ctx, db, vid)
}

// confirm asks question and reads a yes/no answer (default no).
func confirm(in io.Reader, out io.Writer, question string) (bool, error) {
	fmt.Fprint(out, question)
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && line == "" {
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		return false, fmt.Errorf("read answer: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes", "はい":
		return true, nil
	}
	return false, nil
}
