package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/kizuna-alumni/kizuna/internal/roster"
	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/store"
	"github.com/kizuna-alumni/kizuna/internal/tz"
)

func (a *App) alumniCommand() *cobra.Command {
	return a.groupCommand("alumni", "Import, export and manage the alumni roster",
		a.alumniImportCommand(),
		a.alumniExportCommand(),
		a.alumniShowCommand(),
		a.alumniUnsubscribeCommand(),
		a.alumniResubscribeCommand(),
		a.alumniForgetCommand(),
	)
}

// rosterStore opens the database and returns the roster's store on it.
func (a *App) rosterStore(ctx context.Context) (*roster.Store, error) {
	db, err := a.DB(ctx)
	if err != nil {
		return nil, err
	}
	return roster.NewStore(db, nil), nil
}

// exitFor maps the roster's errors to exit statuses: an unknown alumnus, a
// status that forbids the change, a file that is not a roster or cannot be
// encoded is the user's input (2); anything else is a runtime failure (1).
func exitFor(err error) error {
	var se *roster.StatusError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound), errors.As(err, &se),
		errors.Is(err, roster.ErrNotRoster), errors.Is(err, roster.ErrNotEncodable),
		errors.Is(err, os.ErrNotExist), errors.Is(err, os.ErrPermission):
		return invalidInput(err)
	}
	return err
}

// writeJSON prints one JSON document on stdout.
func (a *App) writeJSON(v any) error {
	enc := json.NewEncoder(a.Stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// failJSON prints err as the command's JSON failure document when asJSON
// (stdout must hold one document also when a --json command fails) and
// returns err.
func (a *App) failJSON(asJSON bool, err error) error {
	if asJSON {
		a.jsonFailure(err, nil)
	}
	return err
}

// jsonFailure prints the JSON document of a failed command: its usual shape
// where there is one (fields), plus "error".
func (a *App) jsonFailure(err error, fields map[string]any) {
	if fields == nil {
		fields = map[string]any{}
	}
	msg := err.Error()
	if a.cfg != nil {
		msg = a.cfg.Scrub(msg)
	}
	fields["error"] = msg
	a.writeJSON(fields)
}

func (a *App) alumniImportCommand() *cobra.Command {
	var dryRun, asJSON bool
	var encoding string
	c := &cobra.Command{
		Use:   "import FILE.csv",
		Short: "Add or update alumni from a CSV file",
		Long: `Add or update alumni from a CSV file: UTF-8 (with or without BOM) or
Shift_JIS/CP932 as Excel writes it, detected without a flag; headers in
English or Japanese (メールアドレス, 姓, 名, 氏名, セイ, メイ, 社員番号, 部署,
入社日, 退職日, 言語, タイムゾーン, タグ, 同意, 同意日, 同意取得方法).

Rows are matched by email. An empty cell keeps the stored value. Nobody
unsubscribed, bounced or forgotten is re-activated. Rejected rows are listed
on stderr as FILE:LINE: EMAIL: REASON and make the exit status 2; the good
rows are still imported unless --dry-run. FILE "-" reads standard input.

The encoding is judged on the file's first non-ASCII bytes: bytes that are
valid UTF-8 can still be CP932 (half-width katakana such as ﾐｷ), so both
readings are scored for plausible Japanese or Latin text. When they are close,
stderr says which one was chosen and shows a sample of each; --encoding
utf-8|cp932 forces it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			enc, err := importEncoding(encoding)
			if err != nil {
				if asJSON {
					a.jsonFailure(err, map[string]any{"imported": 0, "updated": 0, "unchanged": 0, "rejected": []any{}})
				}
				return err
			}
			res, err := a.runImport(cmd.Context(), args[0], dryRun, enc)
			if asJSON {
				if err != nil {
					a.jsonFailure(err, map[string]any{"imported": 0, "updated": 0, "unchanged": 0, "rejected": []any{}})
					return exitFor(err)
				}
				a.writeJSON(res)
			}
			if err != nil {
				return exitFor(err)
			}
			a.reportImport(args[0], res, dryRun, !asJSON)
			if len(res.Rejected) > 0 {
				return silentExit(exitUsage)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&dryRun, "dry-run", false, "report what the import would do without writing anything")
	c.Flags().BoolVar(&asJSON, "json", false, "print the result as one JSON document")
	c.Flags().StringVar(&encoding, "encoding", "", "the file's encoding, utf-8 or cp932 (default: detected)")
	return c
}

// importEncoding maps --encoding of alumni import to the roster's names:
// "" detects; an unknown name is a usage error (exit 2).
func importEncoding(flag string) (string, error) {
	switch strings.ToLower(flag) {
	case "":
		return "", nil
	case "utf-8", "utf8":
		return roster.EncodingUTF8, nil
	case "cp932", "shift_jis", "sjis":
		return roster.EncodingCP932, nil
	}
	return "", usageErr("unknown --encoding %q (utf-8 or cp932)", flag)
}

// runImport opens the file (with a progress bar on a terminal) and imports
// it; enc forces the encoding ("" detects).
func (a *App) runImport(ctx context.Context, path string, dryRun bool, enc string) (roster.ImportResult, error) {
	var src io.Reader = a.Stdin
	name := "stdin"
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return roster.ImportResult{}, err
		}
		defer f.Close()
		src, name = f, filepath.Base(path)
		if st, err := f.Stat(); err == nil && isTerminal(a.Stderr) {
			bar := progressbar.NewOptions64(st.Size(),
				progressbar.OptionSetWriter(a.Stderr),
				progressbar.OptionSetDescription("importing "+name),
				progressbar.OptionShowBytes(true),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionClearOnFinish())
			defer bar.Finish()
			src = io.TeeReader(f, bar)
		}
	}
	s, err := a.rosterStore(ctx)
	if err != nil {
		return roster.ImportResult{}, err
	}
	res, err := s.Import(ctx, src, roster.ImportOptions{FileName: name, DryRun: dryRun, Encoding: enc})
	if err != nil {
		return res, fmt.Errorf("%s: %w", path, err)
	}
	return res, nil
}

// reportImport prints the warnings and rejected rows on stderr and, unless
// the result went out as JSON, the summary on stdout.
func (a *App) reportImport(path string, res roster.ImportResult, dryRun, summary bool) {
	for _, w := range res.Warnings {
		fmt.Fprintf(a.Stderr, "%s:%d: warning: %s\n", path, w.Line, w.Message)
	}
	if d := res.Detection; d.Close {
		other := roster.EncodingCP932
		if d.Encoding == roster.EncodingCP932 {
			other = roster.EncodingUTF8
		}
		fmt.Fprintf(a.Stderr, "%s: warning: the file reads as both UTF-8 and CP932; chose %s (--encoding %s to read it the other way)\n", path, d.Encoding, other)
		fmt.Fprintf(a.Stderr, "%s:   as utf-8: %s\n", path, d.UTF8Sample)
		fmt.Fprintf(a.Stderr, "%s:   as cp932: %s\n", path, d.CP932Sample)
	}
	for _, r := range res.Rejected {
		email := r.Email
		if email == "" {
			email = "(no email)"
		} else if strings.ContainsFunc(email, func(c rune) bool { return c < 0x20 || c == 0x7F || c == ' ' }) {
			email = strconv.Quote(email)
		}
		fmt.Fprintf(a.Stderr, "%s:%d: %s: %s\n", path, r.Line, email, r.Reason)
	}
	if !summary {
		return
	}
	fmt.Fprintf(a.Stdout, "imported %d, updated %d, unchanged %d, rejected %d (%s, %s)\n",
		res.Imported, res.Updated, res.Unchanged, len(res.Rejected), path, res.Encoding)
	if dryRun {
		fmt.Fprintln(a.Stdout, "dry run: nothing was written")
	}
}

func (a *App) alumniExportCommand() *cobra.Command {
	var asJSON bool
	var encoding string
	c := &cobra.Command{
		Use:   "export",
		Short: "Write the roster as CSV (or JSON) to stdout",
		Long: `Write every alumnus except forgotten ones to stdout: CSV with the import's
columns plus status, CRLF line ends, UTF-8 with a BOM so that Excel opens it
(or --encoding cp932). A cell starting with = + - or @ is written with a
leading apostrophe so that Excel shows it as text instead of running it as a
formula; import removes that apostrophe again. A CP932 export stops with an
error at the first character CP932 cannot hold (export as utf-8 instead).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			enc := strings.ToLower(encoding)
			switch enc {
			case "utf-8", "utf8":
				enc = roster.EncodingUTF8
			case "cp932", "shift_jis", "sjis":
				enc = roster.EncodingCP932
			default:
				return a.failJSON(asJSON, usageErr("unknown --encoding %q (utf-8 or cp932)", encoding))
			}
			out := &countingWriter{w: a.Stdout}
			s, err := a.rosterStore(cmd.Context())
			if err == nil {
				_, err = s.Export(cmd.Context(), out, roster.ExportOptions{JSON: asJSON, Encoding: enc})
			}
			// Once the array has started, Export closes it even on failure;
			// before that, stdout still gets one document.
			if err != nil && asJSON && out.n == 0 {
				a.jsonFailure(err, nil)
			}
			return exitFor(err)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print a JSON array instead of CSV")
	c.Flags().StringVar(&encoding, "encoding", "utf-8", "CSV encoding: utf-8 (with BOM) or cp932")
	return c
}

// countingWriter counts what went through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// alumnusJSON is the show document: the export object plus history.
type alumnusJSON struct {
	roster.Export
	// MailKinds is what the person chose on the unsubscribe page: all,
	// newsletter (only newsletters) or event (only event invitations). A
	// key beyond SPEC.md's export object.
	MailKinds string              `json:"mail_kinds"`
	History   []runs.HistoryEntry `json:"history"`
}

func (a *App) alumniShowCommand() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "show EMAIL",
		Short: "Show one alumnus: profile, consent, status and history",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			doc, err := a.showAlumnus(cmd.Context(), args[0])
			if err != nil {
				return a.failJSON(asJSON, exitFor(err))
			}
			if asJSON {
				return a.writeJSON(doc)
			}
			a.printAlumnus(doc)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the alumnus as one JSON document")
	return c
}

func (a *App) showAlumnus(ctx context.Context, email string) (alumnusJSON, error) {
	s, err := a.rosterStore(ctx)
	if err != nil {
		return alumnusJSON{}, err
	}
	p, err := s.Find(ctx, email)
	if err != nil {
		return alumnusJSON{}, err
	}
	h, err := runs.History(ctx, a.db, p.ID)
	if err != nil {
		return alumnusJSON{}, err
	}
	kinds, err := roster.MailKindsOf(ctx, a.db, p.ID)
	if err != nil {
		return alumnusJSON{}, err
	}
	return alumnusJSON{Export: p.Export(), MailKinds: kinds, History: h}, nil
}

func (a *App) printAlumnus(doc alumnusJSON) {
	e := doc.Export
	name := e.FamilyName + " " + e.GivenName
	if e.Locale == "en" {
		name = e.GivenName + " " + e.FamilyName
	}
	opt := func(p *string) string {
		if p == nil {
			return "-"
		}
		return *p
	}
	consent := "no"
	if e.Consent {
		consent = "yes"
	}
	fmt.Fprintf(a.Stdout, "%s <%s>\n", strings.TrimSpace(name), e.Email)
	tw := tabwriter.NewWriter(a.Stdout, 2, 4, 2, ' ', 0)
	for _, kv := range [][2]string{
		{"status", e.Status},
		{"mail", map[string]string{roster.MailAll: "all", roster.MailNewsletter: "only newsletters", roster.MailEvent: "only event invitations"}[doc.MailKinds]},
		{"kana", strings.TrimSpace(e.FamilyNameKana + " " + e.GivenNameKana)},
		{"employee_id", opt(e.EmployeeID)},
		{"department", e.Department},
		{"joined_on", opt(e.JoinedOn)},
		{"left_on", opt(e.LeftOn)},
		{"locale", e.Locale},
		{"timezone", e.Timezone},
		{"tags", strings.Join(e.Tags, ", ")},
		{"consent", consent},
		{"consented_at", humanRFC3339(opt(e.ConsentedAt))},
		{"consent_source", e.ConsentSource},
	} {
		fmt.Fprintf(tw, "  %s\t%s\n", kv[0], kv[1])
	}
	tw.Flush()
	if len(doc.History) == 0 {
		fmt.Fprintln(a.Stdout, "history: none")
		return
	}
	fmt.Fprintln(a.Stdout, "history:")
	for _, h := range doc.History {
		at := "-"
		if h.At != nil {
			at = h.At.In(tz.Tokyo()).Format("2006-01-02 15:04 MST")
		}
		what := h.CampaignID
		if h.Run != nil {
			what += fmt.Sprintf(" run %d", *h.Run)
		}
		detail := strings.TrimSpace(strings.Join([]string{h.State, h.Classification, h.Reason, h.Target, h.Answer}, " "))
		if h.Waitlisted != nil && *h.Waitlisted {
			detail += " (waiting list)"
		}
		if h.Subject != "" {
			detail = strings.TrimSpace(detail + " " + strconv.Quote(oneLine(h.Subject)))
		}
		if h.Reply != "" {
			detail += ": " + oneLine(h.Reply)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", at, h.Type, what, detail)
	}
	tw.Flush()
}

func (a *App) alumniUnsubscribeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "unsubscribe EMAIL",
		Short: "Stop all mail to a person (as if they had unsubscribed)",
		Long: `Stop all mail to a person, as if they had unsubscribed. An address not
in the roster is added to the suppression list all the same (exit 0), so a
later import adds it as unsubscribed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.rosterStore(cmd.Context())
			if err != nil {
				return err
			}
			out, err := s.Unsubscribe(cmd.Context(), args[0])
			if out == roster.SuppressedNew && errors.Is(err, store.ErrNotFound) {
				// Not a failure (SPEC.md: alumni unsubscribe, exit 0): the
				// address is suppressed, so nobody mails it, and an import of
				// it later adds it as unsubscribed.
				fmt.Fprintf(a.Stdout, "%s is not in the roster; it was added to the suppression list, so it is never mailed\n", args[0])
				return nil
			}
			if err != nil {
				return exitFor(err)
			}
			switch out {
			case roster.Changed:
				fmt.Fprintf(a.Stdout, "unsubscribed %s\n", args[0])
			case roster.AlreadyDone:
				fmt.Fprintf(a.Stdout, "%s was already unsubscribed\n", args[0])
			default:
				fmt.Fprintf(a.Stdout, "%s is not mailed (bounced); the address is on the suppression list\n", args[0])
			}
			return nil
		},
	}
}

func (a *App) alumniResubscribeCommand() *cobra.Command {
	var source string
	c := &cobra.Command{
		Use:   "resubscribe EMAIL --consent-source TEXT",
		Short: "Undo an unsubscribe, with a new consent record",
		Long: `Undo an unsubscribe. The person must have asked again: --consent-source
records how (e.g. "email to hr@ 2026-11-20"), and the consent time is now.
Only unsubscribed alumni can be resubscribed; bounced and forgotten ones cannot.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(source) == "" {
				return usageErr("--consent-source is required: say how the person gave consent again")
			}
			s, err := a.rosterStore(cmd.Context())
			if err != nil {
				return err
			}
			if err := s.Resubscribe(cmd.Context(), args[0], source); err != nil {
				return exitFor(err)
			}
			fmt.Fprintf(a.Stdout, "resubscribed %s\n", args[0])
			return nil
		},
	}
	c.Flags().StringVar(&source, "consent-source", "", "how the person consented again (required)")
	return c
}

func (a *App) alumniForgetCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "forget EMAIL",
		Short: "Erase a person's personal data everywhere; keep only a hash of the address",
		Long: `Erase a person's personal data everywhere Kizuna stores it (an APPI or
GDPR request): profile, consent record, tags, and the details of their opens,
clicks and replies. Only a SHA-256 hash of the address stays, on the
suppression list, so that they are never mailed or imported again. An
address not in the roster is added to the suppression list all the same.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.rosterStore(cmd.Context())
			if err != nil {
				return err
			}
			out, err := s.Forget(cmd.Context(), args[0])
			if err != nil {
				return exitFor(err)
			}
			if out == roster.SuppressedNew {
				fmt.Fprintf(a.Stdout, "%s is not in the roster; its hash is on the suppression list\n", args[0])
				return nil
			}
			fmt.Fprintf(a.Stdout, "forgot %s: personal data erased; its hash stays on the suppression list\n", args[0])
			return nil
		},
	}
}
