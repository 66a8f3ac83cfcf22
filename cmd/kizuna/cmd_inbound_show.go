package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kizuna-alumni/kizuna/internal/inbound"
	"github.com/kizuna-alumni/kizuna/internal/store"
)

func (a *App) inboundShowCommand() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "show ID",
		Short: "One stored inbound message: envelope, class, delivery, what was done, and its text",
		Long: `Show one stored inbound message (its ID is the first column of kizuna
inbound list): when and how it came in, its envelope, its class, the
delivery it was attributed to (campaign, run, alumnus), what processing
did, its last error, and its decoded text (at most 64 KiB), so a reply can
be read where it is stored. Control characters from the sender are shown
escaped. An unknown ID exits 2.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return a.failJSON(asJSON, usageErr("%q is not an inbound message ID (a positive number, as kizuna inbound list shows)", args[0]))
			}
			db, err := a.DB(cmd.Context())
			if err != nil {
				return a.failJSON(asJSON, err)
			}
			m, err := inbound.Show(cmd.Context(), db, id)
			if err != nil {
				if errors.Is(err, store.ErrNotFound) {
					err = invalidInput(err)
				}
				return a.failJSON(asJSON, err)
			}
			if asJSON {
				return a.writeJSON(m)
			}
			a.printInbound(m)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the message as one JSON document")
	return c
}

// printInbound prints a stored message for a person: its facts, one a
// line, then its text. Everything from the sender is escaped (printable).
func (a *App) printInbound(m inbound.Shown) {
	rows := [][]string{
		{"ID", strconv.FormatInt(m.ID, 10)},
		{"Received", m.ReceivedAt.Local().Format("2006-01-02 15:04:05 -07:00")},
		{"Source", string(m.Source)},
		{"Envelope from", orDash(printable(m.EnvelopeFrom))},
		{"Envelope to", orDash(printable(strings.Join(m.EnvelopeTo, ", ")))},
		{"From", orDash(printable(m.From))},
		{"Subject", orDash(printable(m.Subject))},
		{"Message-ID", orDash(printable(m.MessageID))},
	}
	size := strconv.Itoa(m.Size) + " bytes"
	if m.Truncated {
		size += " (stored truncated)"
	}
	rows = append(rows, []string{"Size", size})
	class := m.Class
	switch {
	case m.ProcessedAt == nil:
		class = "(pending)"
	case class == "":
		class = "(none)"
	}
	rows = append(rows, []string{"Class", class})
	if m.ProcessedAt != nil {
		rows = append(rows, []string{"Processed", m.ProcessedAt.Local().Format("2006-01-02 15:04:05 -07:00")})
	}
	delivery := "-"
	if d := m.Delivery; d != nil {
		delivery = strconv.FormatInt(d.ID, 10)
		if d.Campaign != "" {
			who := d.Email
			if who == "" {
				who = "(forgotten)"
			}
			delivery += fmt.Sprintf(" (campaign %s, run %d, alumnus %d %s)", d.Campaign, d.Run, d.AlumnusID, who)
		}
	}
	rows = append(rows, []string{"Delivery", delivery})
	rows = append(rows, []string{"Did", orDash(strings.Join(m.Did, ", "))})
	if m.Forward != nil {
		rows = append(rows, []string{"Forward", m.Forward.To + " (" + m.Forward.State + ")"})
	}
	if m.Attempts > 0 {
		rows = append(rows, []string{"Failed attempts", strconv.Itoa(m.Attempts)})
	}
	rows = append(rows, []string{"Error", orDash(printable(m.Error))})
	for i := range rows {
		rows[i][0] += ":"
	}
	writeAligned(a.Stdout, rows)
	fmt.Fprintln(a.Stdout)
	switch {
	case m.TextError != "":
		fmt.Fprintf(a.Stdout, "(the text cannot be read: %s)\n", printable(m.TextError))
	case m.Text == "":
		fmt.Fprintln(a.Stdout, "(no text)")
	default:
		fmt.Fprintln(a.Stdout, strings.TrimRight(printableLines(m.Text), "\n"))
		if m.TextTruncated {
			fmt.Fprintf(a.Stdout, "(the text is longer: its first %d KiB are shown)\n", inbound.MaxShownText>>10)
		}
	}
}
