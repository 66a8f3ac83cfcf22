package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/kizuna-alumni/kizuna/internal/config"
	"github.com/kizuna-alumni/kizuna/internal/mailer"
	"github.com/kizuna-alumni/kizuna/internal/metrics"
	"github.com/kizuna-alumni/kizuna/internal/redisconn"
	"github.com/kizuna-alumni/kizuna/internal/render"
	"github.com/kizuna-alumni/kizuna/internal/store"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit statuses (SPEC.md, Commands).
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// exitError carries the exit status a command's failure maps to. A nil err
// means the command already printed what went wrong.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageErr is bad usage or invalid input: exit status 2.
func usageErr(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// invalidInput wraps err as invalid input: exit status 2.
func invalidInput(err error) error { return &exitError{code: exitUsage, err: err} }

// silentExit ends the command with code, having printed its own report.
func silentExit(code int) error { return &exitError{code: code} }

// App is the kizuna program: its standard streams, configuration and the
// connections its commands open lazily.
type App struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// Now is the clock of the commands that judge times (validate's past
	// at); nil means time.Now. Tests set it.
	Now func() time.Time

	flags config.Flags
	cfg   *config.Config
	log   *slog.Logger
	db    *sqlx.DB
	// rdb is the process's one Redis client and mon its monitor, made
	// by the first command that needs Redis (see redis.go).
	rdb redis.UniversalClient
	mon *redisconn.Monitor
	// met is the process's Prometheus metrics (see metrics.go).
	met *metrics.Metrics
}

// NewApp builds the program around its standard streams and environment.
func NewApp(stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) *App {
	return &App{Stdin: stdin, Stdout: stdout, Stderr: stderr, Getenv: getenv}
}

// now reads the App's clock.
func (a *App) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Run executes one command line and returns the exit status.
func (a *App) Run(ctx context.Context, args []string) int {
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(a.Stdin)
	root.SetOut(a.Stdout)
	root.SetErr(a.Stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	code, hint := exitFailure, false
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		code = ee.code
		if ee.err == nil {
			return code
		}
	case errors.Is(err, config.ErrMissing), errors.Is(err, config.ErrInvalid):
		code = exitUsage
	case isCobraUsageError(err):
		code, hint = exitUsage, true
	}
	msg := err.Error()
	if a.cfg != nil {
		msg = a.cfg.Scrub(msg)
	}
	fmt.Fprintf(a.Stderr, "kizuna: %s\n", msg)
	if hint {
		fmt.Fprintln(a.Stderr, "Run 'kizuna --help' for usage.")
	}
	return code
}

// isCobraUsageError recognises cobra's own argument and command errors.
func isCobraUsageError(err error) bool {
	s := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "accepts ", "requires at least", "requires exactly", "invalid argument", "flag needs an argument", "required flag"} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// Close releases what the commands opened.
func (a *App) Close() {
	if a.db != nil {
		a.db.Close()
		a.db = nil
	}
	if a.rdb != nil {
		a.rdb.Close()
		a.rdb, a.mon = nil, nil
	}
}

func (a *App) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "kizuna",
		Short: "Email outreach for corporate alumni networks",
		Long: `Kizuna keeps a company in touch with the people who left it: newsletters
and event invitations with reminders, sent from campaign files, and the
links in them (opens, clicks, one-click unsubscribe) served by kizuna serve.

Configuration comes from KIZUNA_* environment variables (see README.md);
secrets (passwords in URLs, KIZUNA_SECRET, KIZUNA_ADMIN_TOKEN) are read only
from the environment.`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErr("unknown command %q for kizuna", args[0])
			}
			cmd.SetOut(a.Stderr)
			cmd.Usage()
			return silentExit(exitUsage)
		},
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load(a.Getenv, a.flags)
			if err != nil {
				return invalidInput(err)
			}
			a.cfg = cfg
			a.log = newLogger(a.Stderr, cfg)
			return nil
		},
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetVersionTemplate("kizuna {{.Version}}\n")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &exitError{code: exitUsage, err: fmt.Errorf("%w\nRun '%s --help' for usage.", err, cmd.CommandPath())}
	})
	pf := root.PersistentFlags()
	pf.StringVar(&a.flags.DatabaseURL, "database-url", "", "Postgres URL (overrides KIZUNA_DATABASE_URL)")
	pf.StringVar(&a.flags.RedisURL, "redis-url", "", "Redis URL (overrides KIZUNA_REDIS_URL)")
	pf.StringVar(&a.flags.SMTPURL, "smtp-url", "", "SMTP relay URL (overrides KIZUNA_SMTP_URL)")
	pf.StringVar(&a.flags.BaseURL, "base-url", "", "public URL of the web server (overrides KIZUNA_BASE_URL)")
	pf.StringVar(&a.flags.Listen, "listen", "", "web server address (overrides KIZUNA_LISTEN)")
	pf.StringVar(&a.flags.Campaigns, "campaigns", "", "campaigns folder (overrides KIZUNA_CAMPAIGNS)")

	// Every top-level command, in the order usage shows them.
	root.AddCommand(
		a.alumniCommand(),
		a.campaignCommand(),
		a.inboundCommand(),
		a.migrateCommand(),
		a.runCommand(),
		a.schedulerCommand(),
		a.serveCommand(),
		a.workerCommand(),
	)
	return root
}

// groupCommand builds a command that only holds subcommands: run alone it
// prints its usage and exits 2.
func (a *App) groupCommand(use, short string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErr("unknown command %q for %s", args[0], cmd.CommandPath())
			}
			cmd.SetOut(a.Stderr)
			cmd.Usage()
			return silentExit(exitUsage)
		},
	}
	c.AddCommand(subs...)
	return c
}

// DB opens (once) and returns the database connection.
func (a *App) DB(ctx context.Context) (*sqlx.DB, error) {
	if a.db != nil {
		return a.db, nil
	}
	db, err := store.Open(ctx, a.cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	a.db = db
	return db, nil
}

// dkim loads the DKIM signing key named by KIZUNA_DKIM_KEY_FILE, or returns
// nil when none is configured. A key that cannot be read is invalid
// configuration (exit 2).
func (a *App) dkim() (*render.DKIM, error) {
	if a.cfg.DKIMKeyFile == "" {
		return nil, nil
	}
	d, err := render.LoadDKIM(a.cfg.DKIMDomain, a.cfg.DKIMSelector, a.cfg.DKIMKeyFile)
	if err != nil {
		return nil, invalidInput(fmt.Errorf("KIZUNA_DKIM_KEY_FILE: %w", err))
	}
	return d, nil
}

// plainBaseURLWarning returns a warning when message links would use plain
// http while mail leaves this machine: mail providers require an https URL for
// one-click unsubscribe (RFC 8058). It returns "" when all is well, or when the
// relay is local (file://, loopback) as in demos and tests.
func plainBaseURLWarning(cfg *config.Config) string {
	if strings.HasPrefix(strings.ToLower(cfg.BaseURL), "https://") {
		return ""
	}
	relay, err := mailer.ParseRelay(cfg.SMTPURL)
	if err != nil || relay.Scheme == "file" || relay.Host == "localhost" {
		return ""
	}
	if ip := net.ParseIP(relay.Host); ip != nil && ip.IsLoopback() {
		return ""
	}
	return "KIZUNA_BASE_URL is not https (" + cfg.BaseURL + "): Gmail and Yahoo require an https one-click unsubscribe link; serve the links over https"
}

// isTerminal reports whether w is an interactive terminal (progress bars and
// confirmation prompts only appear there).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newLogger writes structured logs to stderr, scrubbing every secret of cfg
// from string values.
func newLogger(w io.Writer, cfg *config.Config) *slog.Logger {
	h := slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: slog.LevelInfo,
		ReplaceAttr: func(_ []string, attr slog.Attr) slog.Attr {
			switch attr.Value.Kind() {
			case slog.KindString:
				attr.Value = slog.StringValue(cfg.Scrub(attr.Value.String()))
			case slog.KindAny:
				if err, ok := attr.Value.Any().(error); ok {
					attr.Value = slog.StringValue(cfg.Scrub(err.Error()))
				}
			}
			return attr
		},
	})
	return slog.New(h)
}
