package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kizuna-alumni/kizuna/campaigns"
)

var _ = func() bool {
	campaignSubcommands = append(campaignSubcommands, (*App).campaignValidateCommand)
	return true
}()

// reachTimeout bounds the optional database part of validate: it must stay
// quick and work offline.
const reachTimeout = 3 * time.Second

// validateReport is the --json document of `kizuna campaign validate`
// (SPEC.md, Machine-readable output).
type validateReport struct {
	OK        bool                `json:"ok"`
	Campaigns []validatedCampaign `json:"campaigns"`
	Errors    []validateError     `json:"errors"`
}

type validatedCampaign struct {
	ID    string `json:"id"`
	File  string `json:"file"`
	Reach *int   `json:"reach"`
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
	reaches := a.reaches(ctx, cs)

	report := validateReport{OK: len(probs) == 0, Campaigns: []validatedCampaign{}, Errors: []validateError{}}
	for i, c := range cs {
		report.Campaigns = append(report.Campaigns, validatedCampaign{ID: c.ID, File: c.File, Reach: reaches[i]})
	}
	for _, p := range probs {
		report.Errors = append(report.Errors, validateError{File: p.File, Line: p.Line, Col: p.Col, Message: p.Message})
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

// reaches counts each campaign's audience when the database answers within
// reachTimeout; otherwise every reach is nil and a note goes to stderr.
// Validation itself never needs the database.
func (a *App) reaches(ctx context.Context, cs []*campaigns.Campaign) []*int {
	out := make([]*int, len(cs))
	if len(cs) == 0 {
		return out
	}
	ctx, cancel := context.WithTimeout(ctx, reachTimeout)
	defer cancel()
	db, err := a.DB(ctx)
	if err != nil {
		fmt.Fprintf(a.Stderr, "kizuna: note: reach not computed, the database is not reachable: %s\n", a.cfg.Scrub(err.Error()))
		return out
	}
	for i, c := range cs {
		n, err := campaigns.Reach(ctx, db, c)
		if err != nil {
			fmt.Fprintf(a.Stderr, "kizuna: note: reach not computed: %s\n", a.cfg.Scrub(err.Error()))
			return make([]*int, len(cs))
		}
		out[i] = &n
	}
	return out
}
