package main

import "github.com/spf13/cobra"

// campaignCommand is the `kizuna campaign` group. Its subcommands are listed
// here, in the order usage shows them.
func (a *App) campaignCommand() *cobra.Command {
	return a.groupCommand("campaign", "Validate, preview, test-send, start and control campaigns",
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
