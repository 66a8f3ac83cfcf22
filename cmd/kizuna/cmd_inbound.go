package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/kizuna-alumni/kizuna/internal/config"
	"github.com/kizuna-alumni/kizuna/internal/inbound"
	"github.com/kizuna-alumni/kizuna/internal/mailer"
	"github.com/kizuna-alumni/kizuna/internal/token"
)

func (a *App) inboundCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "inbound",
		Short: "Read replies and bounces: SMTP/LMTP listener and/or IMAP poll, classify, act",
		Long: `Take in the mail that comes back to KIZUNA_INBOUND_ADDRESS — replies,
automatic replies, bounces, calendar answers, requests to stop, complaints —
store each message raw (at most KIZUNA_INBOUND_MAX_BYTES, default 10 MiB),
then classify it and act on it.

Mail comes in two ways, either or both:

  KIZUNA_INBOUND_LISTEN  SMTP and/or LMTP listeners, separated by commas:
                         smtp://0.0.0.0:25 (an MX for the inbound domain),
                         lmtp://127.0.0.1:2424 or lmtp:///run/kizuna/lmtp.sock
                         (a local MTA hands mail over); a bare HOST:PORT is
                         SMTP. Only the inbound address's domain is accepted.
  KIZUNA_INBOUND_TLS_CERT, KIZUNA_INBOUND_TLS_KEY
                         a PEM certificate and its key (both or neither):
                         the TCP listeners offer STARTTLS (TLS 1.2+), and
                         read the files again when they change (renewals).
  KIZUNA_IMAP_URL        a mailbox to read, imaps://USER:PASS@HOST/INBOX;
                         each stored message is moved to Kizuna/Processed.

A message is stored before it is acknowledged (the 250 to DATA, the IMAP
move), so nothing accepted is lost. Any number of intakes may run at once:
each message is processed once. SIGTERM or Ctrl-C stops taking mail,
finishes what is in progress and exits.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErr("unknown command %q for %s", args[0], cmd.CommandPath())
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			parts, err := a.inboundParts(ctx)
			if err != nil {
				return err
			}
			return runParts(ctx, parts)
		},
	}
	cmd.AddCommand(
		a.inboundReprocessCommand(),
		a.inboundListCommand(),
		a.inboundClassifyCommand(),
		a.inboundShowCommand(),
	)
	return cmd
}

// inboundConfigured reports whether KIZUNA_INBOUND_LISTEN or KIZUNA_IMAP_URL
// is set: `kizuna run` starts the intake then.
func (a *App) inboundConfigured() bool {
	return a.cfg.InboundListen != "" || a.cfg.IMAPURL != ""
}

// errNoIntake says why `kizuna inbound` cannot start.
var errNoIntake = fmt.Errorf("%w: neither KIZUNA_INBOUND_LISTEN nor KIZUNA_IMAP_URL is set: set KIZUNA_INBOUND_LISTEN "+
	"(an SMTP/LMTP listener, e.g. smtp://0.0.0.0:25) and/or KIZUNA_IMAP_URL (a mailbox, e.g. imaps://user:pass@imap.example.co.jp/INBOX)",
	config.ErrMissing)

// newInboundProcessor builds the processor of stored inbound mail.
func (a *App) newInboundProcessor(ctx context.Context) (*inbound.Processor, error) {
	if err := a.cfg.RequireSecret(); err != nil {
		return nil, invalidInput(err)
	}
	db, err := a.DB(ctx)
	if err != nil {
		return nil, err
	}
	return inbound.New(inbound.Options{
		DB: db, Log: a.log.With("component", "inbound"), MaxBytes: a.cfg.InboundMaxBytes,
		Address: a.cfg.InboundAddress, Signer: token.New(a.cfg.Secret()),
	})
}

// inboundParts builds what the configuration asks for — the listener, the
// IMAP poller — and the processing loop, each a function to run until ctx
// ends.
func (a *App) inboundParts(ctx context.Context) ([]func(context.Context) error, error) {
	if !a.inboundConfigured() {
		return nil, errNoIntake
	}
	var endpoints []inbound.Endpoint
	if a.cfg.InboundListen != "" {
		var err error
		if endpoints, err = inbound.ParseListen(a.cfg.InboundListen); err != nil {
			return nil, invalidInput(err)
		}
		if a.cfg.InboundAddress == "" { // a set one is checked by config.Load
			return nil, fmt.Errorf("%w: KIZUNA_INBOUND_ADDRESS is not set: the listener accepts mail for its domain only (e.g. reply@in.example.co.jp)", config.ErrMissing)
		}
	}
	// STARTTLS on the listener: the files are read now, so a missing or
	// invalid one stops the start (exit 2) with its path.
	var tlsConfig *tls.Config
	if len(endpoints) > 0 && a.cfg.InboundTLSCert != "" {
		cf, err := inbound.LoadCertFiles(a.cfg.InboundTLSCert, a.cfg.InboundTLSKey, a.log.With("component", "inbound"))
		if err != nil {
			return nil, invalidInput(fmt.Errorf("inbound listener STARTTLS (KIZUNA_INBOUND_TLS_CERT, KIZUNA_INBOUND_TLS_KEY): %w", err))
		}
		tlsConfig = cf.TLSConfig()
	}
	var target inbound.IMAPTarget
	if a.cfg.IMAPURL != "" {
		var err error
		if target, err = inbound.ParseIMAPURL(a.cfg.IMAPURL); err != nil {
			return nil, invalidInput(err)
		}
	}
	p, err := a.newInboundProcessor(ctx)
	if err != nil {
		return nil, err
	}
	parts := []func(context.Context) error{p.Run}
	// Human replies are forwarded to the campaign's reply_to through the
	// relay, from a durable outbox (inbound_forwards).
	relay, err := mailer.ParseRelay(a.cfg.SMTPURL)
	if err != nil {
		return nil, invalidInput(err)
	}
	db, err := a.DB(ctx)
	if err != nil {
		return nil, err
	}
	fw := &inbound.Forwarder{DB: db, Sender: mailer.NewSender(relay), EnvelopeFrom: a.cfg.InboundAddress,
		Log: a.log.With("component", "forwarder")}
	parts = append(parts, fw.Run)
	if len(endpoints) > 0 {
		l, err := p.NewListener(inbound.ListenerOptions{Endpoints: endpoints, Domain: a.cfg.InboundAddress, TLS: tlsConfig})
		if err != nil {
			return nil, err
		}
		if err := l.Listen(); err != nil { // a port in use fails the start
			return nil, err
		}
		parts = append(parts, l.Run)
	}
	if a.cfg.IMAPURL != "" {
		parts = append(parts, p.NewPoller(inbound.PollerOptions{Target: target}).Run)
	}
	return parts, nil
}

// runParts runs each part until ctx ends or one of them ends, which stops
// the others; it returns their errors.
func runParts(ctx context.Context, parts []func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(parts))
	for _, part := range parts {
		go func() {
			err := part(ctx)
			cancel()
			errs <- err
		}()
	}
	var all []error
	for range parts {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

func (a *App) inboundReprocessCommand() *cobra.Command {
	var since string
	cmd := &cobra.Command{
		Use:   "reprocess",
		Short: "Classify stored inbound mail again (after a classifier fix) and apply what changed",
		Long: `Classify the stored inbound messages again and apply what the new
classification finds: all of them, or those received since --since (a
duration such as 72h or 7d, or a date 2026-04-01 or 2026-04-01T09:00:00+09:00).
Effects are idempotent: an address suppressed before is not suppressed
twice, the same answer to an event changes nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			from, err := parseSince(since, a.now())
			if err != nil {
				return usageErr("--since: %v", err)
			}
			p, err := a.newInboundProcessor(cmd.Context())
			if err != nil {
				return err
			}
			rep, err := p.Reprocess(cmd.Context(), from)
			fmt.Fprintf(a.Stdout, "reprocessed %d message(s)\n", rep.Reset)
			if len(rep.Unreadable) > 0 {
				fmt.Fprintf(a.Stdout, "%d message(s) cannot be read (kept, marked processed, listed by kizuna inbound list --unattributed):\n", len(rep.Unreadable))
				for _, u := range rep.Unreadable {
					fmt.Fprintf(a.Stdout, "  %d  %s\n", u.ID, printable(u.Err))
				}
			}
			if err != nil {
				return fmt.Errorf("some messages were not processed (kept, retried by kizuna inbound): %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "only messages received since: a duration (72h, 7d) or a date (2026-04-01, RFC 3339)")
	return cmd
}

// parseSince reads --since: "" is the beginning of time; a duration (Go's,
// or a number of days "7d") counts back from now; else a date (in Japan
// time when it has no zone) or an RFC 3339 time.
func parseSince(v string, now time.Time) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	if d, ok := strings.CutSuffix(v, "d"); ok {
		if n, err := strconv.Atoi(d); err == nil && n >= 0 {
			return now.AddDate(0, 0, -n), nil
		}
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	jst := time.FixedZone("JST", 9*3600)
	if t, err := time.ParseInLocation("2006-01-02", v, jst); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is neither a duration (72h, 7d) nor a date (2026-04-01, 2026-04-01T09:00:00+09:00)", v)
}

func (a *App) inboundListCommand() *cobra.Command {
	var unattributed, asJSON bool
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Recent inbound messages: time, sender, subject, class, delivery, error",
		Long: `List the most recent inbound messages, newest first: when each came in,
its sender and subject, its class (empty until processed), the delivery it
was attributed to, and the last processing error of one not processed yet.
--unattributed shows only the processed messages no delivery was found for.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit <= 0 {
				return a.failJSON(asJSON, usageErr("--limit must be positive"))
			}
			db, err := a.DB(cmd.Context())
			if err != nil {
				return a.failJSON(asJSON, err)
			}
			rows, err := inbound.List(cmd.Context(), db, unattributed, limit)
			if err != nil {
				return a.failJSON(asJSON, err)
			}
			if asJSON {
				if rows == nil {
					rows = []inbound.Listed{}
				}
				return a.writeJSON(map[string]any{"messages": rows})
			}
			table := [][]string{{"ID", "RECEIVED", "FROM", "SUBJECT", "CLASS", "DELIVERY", "ERROR"}}
			for _, r := range rows {
				class, delivery := r.Class, "-"
				switch {
				case r.ProcessedAt == nil:
					class = "(pending)"
				case class == "":
					class = "(none)" // unreadable, or given up: the error says why
				}
				if r.DeliveryID != nil {
					delivery = strconv.FormatInt(*r.DeliveryID, 10)
				}
				table = append(table, []string{strconv.FormatInt(r.ID, 10), r.ReceivedAt.Local().Format("2006-01-02 15:04"),
					cell(r.From, 40), cell(r.Subject, 50), class, delivery, cell(r.Error, 60)})
			}
			writeAligned(a.Stdout, table)
			return nil
		},
	}
	cmd.Flags().BoolVar(&unattributed, "unattributed", false, "only the processed messages attributed to no delivery")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().IntVar(&limit, "limit", 50, "how many messages")
	return cmd
}

// cell makes s fit a table cell: no tabs or line breaks, control
// characters escaped (printable), at most n terminal columns
// (displayWidth: a kanji takes two).
func cell(s string, n int) string {
	s = printable(strings.Join(strings.Fields(s), " "))
	if s == "" {
		return "-"
	}
	if displayWidth(s) <= n {
		return s
	}
	var b strings.Builder
	w := 0
	for _, r := range s {
		rw := displayWidth(string(r))
		if w+rw > n-1 {
			break
		}
		b.WriteRune(r)
		w += rw
	}
	return b.String() + "…"
}

// printable escapes what a terminal would act on instead of showing: the
// C0 controls (ESC starts a colour or a cursor move), DEL, the C1 controls
// (U+0080–U+009F; CSI is U+009B) and the bidirectional overrides and
// isolates (U+202A–U+202E, U+2066–U+2069), as \xHH or \uHHHH; bytes that are
// not UTF-8 become U+FFFD. Text from senders (a decoded Subject, a From, an
// error about their message) goes through it before it is printed.
func printable(s string) string {
	clean := true
	for _, r := range s {
		if needsEscape(r) || r == utf8.RuneError {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r < 0x100 && needsEscape(r):
			fmt.Fprintf(&b, "\\x%02x", r)
		case needsEscape(r):
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteRune(r) // utf8.RuneError for a bad byte: U+FFFD
		}
	}
	return b.String()
}

// needsEscape: the controls printable escapes.
func needsEscape(r rune) bool {
	return r < 0x20 || (r >= 0x7f && r <= 0x9f) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}

// printableLines is printable for a text of several lines: the line breaks
// and tabs stay, every other control is escaped.
func printableLines(s string) string {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	for i, l := range lines {
		parts := strings.Split(l, "\t")
		for j, p := range parts {
			parts[j] = printable(p)
		}
		lines[i] = strings.Join(parts, "\t")
	}
	return strings.Join(lines, "\n")
}
