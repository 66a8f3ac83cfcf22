package main

import (
	"context"

	"github.com/jmoiron/sqlx"
	"github.com/spf13/cobra"

	"github.com/kizuna-alumni/kizuna/internal/runs"
)

// campaignCommand is the `kizuna campaign` group. Its subcommands are listed
// here, in the order usage shows them.
func (a *App) campaignCommand() *cobra.Command {
	return a.groupCommand("campaign", "Validate, preview, test-send, start and control campaigns",
		a.campaignAttendeesCommand(),
		a.campaignCancelCommand(),
		a.campaignListCommand(),
		a.campaignPauseCommand(),
		a.campaignPreviewCommand(),
		a.campaignResumeCommand(),
		a.campaignRetryCommand(),
		a.campaignSendTestCommand(),
		a.campaignStartCommand(),
		a.campaignStatusCommand(),
		a.campaignValidateCommand(),
	)
}

// knownCampaign is the preamble of the commands that take a campaign ID: it
// opens the database and checks that it knows campaign id (an unknown id is
// bad usage, exit 2).
func (a *App) knownCampaign(ctx context.Context, id string) (*sqlx.DB, error) {
	db, err := a.DB(ctx)
	if err != nil {
		return nil, err
	}
	ok, err := runs.CampaignExists(ctx, db, id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, unknownCampaign(id)
	}
	return db, nil
}

// campaignRuns is knownCampaign followed by the campaign's runs, oldest
// first (runs.ListRuns).
func (a *App) campaignRuns(ctx context.Context, id string) (*sqlx.DB, []runs.Run, error) {
	db, err := a.knownCampaign(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	all, err := runs.ListRuns(ctx, db, id)
	if err != nil {
		return nil, nil, err
	}
	return db, all, nil
}
