package main

import (
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
Delivered-To). Every file is classified: one that cannot be read, or an
empty message, is reported (on stderr; with --json as an element
{"file": ..., "error": ...}) and makes the exit status 2 at the end.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			var signer *token.Signer
			if len(a.cfg.Secret()) > 0 {
				if err := a.cfg.RequireSecret(); err != nil {
					return a.failJSON(asJSON, invalidInput(err))
				}
				signer = token.New(a.cfg.Secret())
			}
			out := make([]any, 0, len(files))
			var bad []string
			for _, f := range files {
				j, r, via, err := a.classifyFile(f, signer)
				if err != nil {
					// Reported, and the other files are still read: exit 2 at the end.
					bad = append(bad, f)
					msg := a.cfg.Scrub(err.Error())
					if asJSON {
						out = append(out, classifyErrorJSON{File: f, Error: msg})
					} else {
						fmt.Fprintf(a.Stderr, "kizuna: %s\n", printable(msg))
					}
					continue
				}
				if asJSON {
					out = append(out, j)
					continue
				}
				fmt.Fprintln(a.Stdout, classifiedLine(j, r, via))
			}
			if asJSON {
				if err := a.writeJSON(out); err != nil {
					return err
				}
			}
			if len(bad) > 0 {
				if asJSON {
					// The errors are in the document; stderr says it once.
					return invalidInput(fmt.Errorf("%d of %d file(s) could not be classified: %s", len(bad), len(files), strings.Join(bad, ", ")))
				}
				return silentExit(exitUsage)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print a JSON array: class, recipients, message_id, in_reply_to, original_message_id, delivery")
	return c
}

// classifyErrorJSON is the element of `inbound classify --json` for a file
// that could not be read or classified.
type classifyErrorJSON struct {
	File  string `json:"file"`
	Error string `json:"error"`
}

// classifyFile reads and classifies one file: its JSON element, the
// result and how the delivery was attributed. An unreadable file or a
// message the classifier cannot read (empty) is an error naming the file.
func (a *App) classifyFile(f string, signer *token.Signer) (classifiedJSON, classify.Result, string, error) {
	raw, err := readLimited(f)
	if err != nil {
		return classifiedJSON{}, classify.Result{}, "", fmt.Errorf("%s: %w", f, err)
	}
	r, err := classify.Classify(raw)
	if err != nil {
		return classifiedJSON{}, classify.Result{}, "", fmt.Errorf("%s: %w", f, err)
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
	return j, r, via, nil
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
	fmt.Fprintf(&b, "%s: %s", printable(j.File), j.Class)
	for _, rc := range r.Recipients {
		hard := "soft"
		if rc.Hard {
			hard = "hard"
		}
		fmt.Fprintf(&b, " [%s %s %s %s %s %s]", printable(rc.Address), printable(rc.Action), orDash(printable(rc.Status)),
			orDash(printable(rc.ReplyCode)), orDash(printable(rc.Reason)), hard)
	}
	if r.Calendar != nil {
		fmt.Fprintf(&b, " %s %s (uid %s, sequence %d)", printable(r.Calendar.Attendee), printable(r.Calendar.PartStat),
			printable(r.Calendar.UID), r.Calendar.Sequence)
	}
	if r.From != "" {
		fmt.Fprintf(&b, " from %s", printable(r.From))
	}
	if r.Subject != "" {
		fmt.Fprintf(&b, " %q", r.Subject)
	}
	if j.Delivery != nil {
		fmt.Fprintf(&b, " delivery %d (%s)", *j.Delivery, via)
	} else if r.OriginalMessageID != "" {
		fmt.Fprintf(&b, " original <%s>", printable(r.OriginalMessageID))
	} else if r.InReplyTo != "" {
		fmt.Fprintf(&b, " in reply to <%s>", printable(r.InReplyTo))
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
