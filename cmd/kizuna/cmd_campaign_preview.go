package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/mailer"
	"github.com/kizuna-alumni/kizuna/internal/render"
	"github.com/kizuna-alumni/kizuna/internal/roster"
	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/store"
	"github.com/kizuna-alumni/kizuna/internal/token"
	"github.com/kizuna-alumni/kizuna/internal/tz"
)

// loadCampaignFile loads one campaign file, printing its problems as
// file:line:col lines on stderr (exit 2).
func (a *App) loadCampaignFile(path string) (*campaigns.Campaign, error) {
	c, problems := campaigns.LoadFile(path)
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(a.Stderr, p.String())
		}
		return nil, silentExit(exitUsage)
	}
	if c == nil {
		return nil, usageErr("%s: no campaign", path)
	}
	return c, nil
}

// recipientFor looks up an alumnus by address: unknown addresses are
// invalid input (exit 2). Whether they are in a campaign's audience is
// warnOutsideAudience's to say.
func (a *App) recipientFor(ctx context.Context, email string) (render.Recipient, error) {
	db, err := a.DB(ctx)
	if err != nil {
		return render.Recipient{}, err
	}
	al, err := roster.NewStore(db, time.Now).Find(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return render.Recipient{}, usageErr("unknown alumnus %q (see `kizuna alumni show`)", email)
	}
	if err != nil {
		return render.Recipient{}, err
	}
	r := render.Recipient{
		Email: al.Email, FamilyName: al.FamilyName, GivenName: al.GivenName, Department: al.Department,
		Locale: al.Locale, TimeZone: al.Timezone,
	}
	if al.JoinedOn != nil {
		r.JoinedOn = *al.JoinedOn
	}
	if al.LeftOn != nil {
		r.LeftOn = *al.LeftOn
	}
	return r, nil
}

// warnOutsideAudience says on stderr when the alumnus with address email
// (as stored) is not in c's audience, and why, so that a preview is not
// mistaken for what a run sends them. The preview is rendered all the same.
func (a *App) warnOutsideAudience(ctx context.Context, c *campaigns.Campaign, email string) error {
	db, err := a.DB(ctx)
	if err != nil {
		return err
	}
	reasons, found, err := runs.Excluded(ctx, db, c.Audience, email)
	if err != nil || !found || len(reasons) == 0 {
		return err
	}
	fmt.Fprintf(a.Stderr, "kizuna: warning: %s is outside the audience of %s, so a run does not send this to them: %s\n",
		email, c.ID, strings.Join(reasons, "; "))
	return nil
}

// sampleRecipient is the built-in alumnus of send-test without --as.
func sampleRecipient(c *campaigns.Campaign) render.Recipient {
	r := render.Recipient{
		Email: "taro.yamada@example.com", FamilyName: "山田", GivenName: "太郎", Department: "開発部",
		JoinedOn: time.Date(2015, 4, 1, 0, 0, 0, 0, time.UTC), LeftOn: time.Date(2022, 3, 31, 0, 0, 0, 0, time.UTC),
		Locale: "ja", TimeZone: tz.Default,
	}
	if _, ok := c.Template.Body["ja"]; !ok {
		r.FamilyName, r.GivenName, r.Department, r.Locale = "Yamada", "Taro", "Engineering", "en"
	}
	return r
}

func (a *App) campaignPreviewCommand() *cobra.Command {
	var to, format string
	cmd := &cobra.Command{
		Use:   "preview FILE --to EMAIL [--format html|text|eml]",
		Short: "Render a campaign exactly as one alumnus would receive it",
		Long: `Render the campaign in FILE for the alumnus with address EMAIL and print it
to stdout: the HTML part (default), the plain-text part, or the whole message
as an .eml file. Links carry signed tokens of a preview (delivery 0), which
the web server does not count. Needs KIZUNA_SECRET and the database.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return usageErr("campaign preview: --to EMAIL is required")
			}
			if format != "html" && format != "text" && format != "eml" {
				return usageErr("campaign preview: --format must be html, text or eml, not %q", format)
			}
			if err := a.cfg.RequireSecret(); err != nil {
				return err
			}
			c, err := a.loadCampaignFile(args[0])
			if err != nil {
				return err
			}
			r, err := a.recipientFor(cmd.Context(), to)
			if err != nil {
				return err
			}
			if err := a.warnOutsideAudience(cmd.Context(), c, r.Email); err != nil {
				return err
			}
			eight := false
			if format == "eml" {
				eight = a.relayOffers8BitMIME(cmd.Context())
			}
			p, err := a.prepare(c, false, eight)
			if err != nil {
				return err
			}
			return writePreview(a.Stdout, p, r, format)
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "address of the alumnus to render for (required)")
	cmd.Flags().StringVar(&format, "format", "html", "what to print: html, text or eml")
	return cmd
}

// writePreview prints one format of r's message.
func writePreview(w io.Writer, p *render.Prepared, r render.Recipient, format string) error {
	var out string
	switch format {
	case "eml":
		m, err := p.Render(r)
		if err != nil {
			return invalidInput(err)
		}
		out = string(m.Data)
	case "text":
		out = p.RenderParts(r).Text
	default:
		out = p.RenderParts(r).HTML
	}
	if !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	_, err := io.WriteString(w, out)
	return err
}

func (a *App) campaignSendTestCommand() *cobra.Command {
	var to, as string
	cmd := &cobra.Command{
		Use:   "send-test FILE --to ADDRESS [--as EMAIL]",
		Short: "Send one test copy of a campaign to any address",
		Long: `Send one copy of the campaign in FILE to ADDRESS through the configured relay
(KIZUNA_SMTP_URL), personalised as the alumnus --as (default: a sample alumnus,
山田 太郎). The subject starts with [TEST], the message carries X-Kizuna-Test: 1,
its links are not tracked, and it is counted nowhere. Needs KIZUNA_SECRET; the
database only with --as.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return usageErr("campaign send-test: --to ADDRESS is required")
			}
			if err := a.cfg.RequireSecret(); err != nil {
				return err
			}
			relay, err := mailer.ParseRelay(a.cfg.SMTPURL)
			if err != nil {
				return invalidInput(fmt.Errorf("KIZUNA_SMTP_URL: %w", err))
			}
			if w := plainBaseURLWarning(a.cfg); w != "" {
				a.log.Warn(w)
			}
			c, err := a.loadCampaignFile(args[0])
			if err != nil {
				return err
			}
			r := sampleRecipient(c)
			if as != "" {
				if r, err = a.recipientFor(cmd.Context(), as); err != nil {
					return err
				}
				if err := a.warnOutsideAudience(cmd.Context(), c, r.Email); err != nil {
					return err
				}
			}
			r.SendTo = strings.TrimSpace(to)
			p, err := a.prepare(c, true, a.relayOffers8BitMIME(cmd.Context()))
			if err != nil {
				return err
			}
			m, err := p.Render(r)
			if err != nil {
				return invalidInput(err)
			}
			sender := mailer.NewSender(relay)
			defer sender.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
			defer cancel()
			if err := sender.Send(ctx, mailer.Envelope{From: m.EnvelopeFrom, To: m.To, Data: m.Data, EightBit: m.EightBit, CRLF: true}); err != nil {
				return fmt.Errorf("send test of %s to %s: %w", c.ID, m.To, err)
			}
			fmt.Fprintf(a.Stdout, "sent test of %s to %s (Message-ID <%s>)\n", c.ID, m.To, m.MessageID)
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "address to send the test copy to (required)")
	cmd.Flags().StringVar(&as, "as", "", "personalise as the alumnus with this address (default: a sample alumnus)")
	return cmd
}

// prepare renders campaign c once for preview (test false) or send-test
// (test true: [TEST] subject, untracked links) with the configured base URL,
// secret, inbound address and DKIM key. A preview or test copy belongs to
// no run: it renders as run 0 (Feedback-ID CAMPAIGN-ID:0:kizuna:DOMAIN,
// Message-ID d0.0.RANDOM@DOMAIN, new for every copy). eightBit says the
// relay offers 8BITMIME (relayOffers8BitMIME).
func (a *App) prepare(c *campaigns.Campaign, test, eightBit bool) (*render.Prepared, error) {
	dkim, err := a.dkim()
	if err != nil {
		return nil, err
	}
	p, err := render.Prepare(c, render.Options{BaseURL: a.cfg.BaseURL, Signer: token.New(a.cfg.Secret()),
		InboundAddress: a.cfg.InboundAddress, Test: test, DKIM: dkim, RunNumber: 0, EightBitMIME: eightBit})
	if err != nil {
		return nil, invalidInput(err)
	}
	return p, nil
}

// relayOffers8BitMIME asks the configured relay (KIZUNA_SMTP_URL) whether
// it offers 8BITMIME (mailer.Probe; a file:// relay does), so that a
// preview or test copy is encoded as the worker would send it. A relay
// that is not configured or does not answer counts as "no": the copy is
// then quoted-printable or base64, which any relay takes.
func (a *App) relayOffers8BitMIME(ctx context.Context) bool {
	relay, err := mailer.ParseRelay(a.cfg.SMTPURL)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	ok, err := mailer.Probe(ctx, relay)
	if err != nil {
		a.log.Debug("could not ask the relay about 8BITMIME; encoding for a relay without it", "err", err)
	}
	return ok && err == nil
}
