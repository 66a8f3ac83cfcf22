package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kizuna-alumni/kizuna/internal/inbound/classify"
	"github.com/kizuna-alumni/kizuna/internal/token"
)

// classifiedJSON is one element of `kizuna inbound classify --json`
// (SPEC.md, Machine-readable output).
type classifiedJSON struct {
	File              string               `json:"file"`
	Class             classify.Class       `json:"class"`
	Recipients        []classifiedRcptJSON `json:"recipients"`
	MessageID         string               `json:"message_id"`
	InReplyTo         string               `json:"in_reply_to"`
	OriginalMessageID *string              `json:"original_message_id"`
	Delivery          *int64               `json:"delivery"`
}

type classifiedRcptJSON struct {
	Address   string `json:"address"`
	Action    string `json:"action"`
	Status    string `json:"status"`
	ReplyCode string `json:"reply_code"`
	Reason    string `json:"reason"`
	Hard      bool   `json:"hard"`
}

func (a *App) inboundClassifyCommand() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "classify FILE.eml...",
		Short: "Print what Kizuna makes of stored messages, without acting",
		Long: `Read each message file (RFC 5322, as saved from a mail client or the
inbound store) and print what Kizuna makes of it: its class (bounce,
delayed, auto_reply, human_reply, calendar_reply, unsubscribe_request,
feedback_report), the recipients a bounce reports with their status,
reason and whether the failure is hard, and the keys that attribute it to a
delivery. Nothing is stored and nothing is done.

With KIZUNA_SECRET set, the delivery the message answers is shown (verified
Message-ID in In-Reply-To, References or the returned message; with
KIZUNA_INBOUND_ADDRESS also the reply+ addresses in To, Cc and
Delivered-To). A file that cannot be read is exit status 2.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			var signer *token.Signer
			if len(a.cfg.Secret()) > 0 {
				if err := a.cfg.RequireSecret(); err != nil {
					return invalidInput(err)
				}
				signer = token.New(a.cfg.Secret())
			}
			raws := make([][]byte, len(files))
			for i, f := range files {
				b, err := readLimited(f)
				if err != nil {
					return invalidInput(fmt.Errorf("%s: %w", f, err))
				}
				raws[i] = b
			}
			out := make([]classifiedJSON, 0, len(files))
			for i, f := range files {
				r, err := classify.Classify(raws[i])
				if err != nil {
					return invalidInput(fmt.Errorf("%s: %w", f, err))
				}
				j := classifiedJSON{File: f, Class: r.Class, Recipients: []classifiedRcptJSON{},
					MessageID: r.MessageID, InReplyTo: r.InReplyTo}
				for _, rc := range r.Recipients {
					j.Recipients = append(j.Recipients, classifiedRcptJSON{rc.Address, rc.Action, rc.Status, rc.ReplyCode, rc.Reason, rc.Hard})
				}
				if r.OriginalMessageID != "" {
					id := r.OriginalMessageID
					j.OriginalMessageID = &id
				}
				var via string
				if signer != nil {
					if d, v := classify.Attribute(r, nil, a.cfg.InboundAddress, signer); d > 0 {
						j.Delivery, via = &d, v
					}
				}
				if asJSON {
					out = append(out, j)
					continue
				}
				fmt.Fprintln(a.Stdout, classifiedLine(j, r, via))
			}
			if asJSON {
				enc := json.NewEncoder(a.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print a JSON array (SPEC.md)")
	return c
}

// readLimited reads a message file, at most classify.MaxSize bytes of it.
func readLimited(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, fmt.Errorf("is a directory")
	}
	return io.ReadAll(io.LimitReader(f, classify.MaxSize))
}

// classifiedLine is the one-line text form of a classification.
func classifiedLine(j classifiedJSON, r classify.Result, via string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", j.File, j.Class)
	for _, rc := range r.Recipients {
		hard := "soft"
		if rc.Hard {
			hard = "hard"
		}
		fmt.Fprintf(&b, " [%s %s %s %s %s %s]", rc.Address, rc.Action, orDash(rc.Status), orDash(rc.ReplyCode), orDash(rc.Reason), hard)
	}
	if r.Calendar != nil {
		fmt.Fprintf(&b, " %s %s (uid %s, sequence %d)", r.Calendar.Attendee, r.Calendar.PartStat, r.Calendar.UID, r.Calendar.Sequence)
	}
	if r.From != "" {
		fmt.Fprintf(&b, " from %s", r.From)
	}
	if r.Subject != "" {
		fmt.Fprintf(&b, " %q", r.Subject)
	}
	if j.Delivery != nil {
		fmt.Fprintf(&b, " delivery %d (%s)", *j.Delivery, via)
	} else if r.OriginalMessageID != "" {
		fmt.Fprintf(&b, " original <%s>", r.OriginalMessageID)
	} else if r.InReplyTo != "" {
		fmt.Fprintf(&b, " in reply to <%s>", r.InReplyTo)
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
