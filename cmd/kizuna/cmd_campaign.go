package main

import "github.com/spf13/cobra"

// campaignSubcommands lists constructors of the `kizuna campaign ...`
// subcommands; each file appends its own from a var declaration, so adding a
// subcommand touches only its own file.
var campaignSubcommands []func(*App) *cobra.Command

var _ = func() bool { commandRegistry = append(commandRegistry, (*App).campaignCommand); return true }()

// campaignCommand is the `kizuna campaign` group.
func (a *App) campaignCommand() *cobra.Command {
	subs := make([]*cobra.Command, 0, len(campaignSubcommands))
	for _, add := range campaignSubcommands {
		subs = append(subs, add(a))
	}
	return a.groupCommand("campaign", "Validate, preview, test-send, start and control campaigns", subs...)
}
