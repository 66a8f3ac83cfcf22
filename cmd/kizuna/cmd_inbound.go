package main

import "github.com/spf13/cobra"

// inboundCommand groups the inbound commands (SPEC.md, Commands).
func (a *App) inboundCommand() *cobra.Command {
	return a.groupCommand("inbound", "Replies, bounces and other inbound mail",
		a.inboundClassifyCommand(),
	)
}
