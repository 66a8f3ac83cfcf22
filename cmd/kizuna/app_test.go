package main

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/internal/config"
	"github.com/kizuna-alumni/kizuna/internal/store"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
)

// runApp runs one kizuna command line in process with the given environment.
func runApp(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	app := NewApp(strings.NewReader(""), &out, &errOut, testGetenv(env))
	defer app.Close()
	code = app.Run(context.Background(), args)
	return code, out.String(), errOut.String()
}

func TestUsageAndExitCodes(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"no arguments prints usage", nil, 2, "", "Usage:"},
		{"help", []string{"--help"}, 0, "Usage:", ""},
		{"version", []string{"--version"}, 0, "kizuna ", ""},
		{"unknown command", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"unknown flag", []string{"migrate", "--frob"}, 2, "", "unknown flag: --frob"},
		{"extra argument", []string{"migrate", "extra"}, 2, "", "unknown command"},
		{"migrate help", []string{"migrate", "--help"}, 0, "forward-only", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := runApp(t, nil, c.args...)
			if code != c.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, c.code, errOut)
			}
			if !strings.Contains(out, c.stdout) {
				t.Errorf("stdout %q lacks %q", out, c.stdout)
			}
			if !strings.Contains(errOut, c.stderr) {
				t.Errorf("stderr %q lacks %q", errOut, c.stderr)
			}
		})
	}
}

// Every command and group answers --help with exit 0.
func TestEveryCommandHasHelp(t *testing.T) {
	app := NewApp(nil, nil, nil, nil)
	root := app.rootCommand()
	var paths [][]string
	for _, c := range root.Commands() {
		paths = append(paths, []string{c.Name()})
		for _, s := range c.Commands() {
			paths = append(paths, []string{c.Name(), s.Name()})
		}
	}
	for _, p := range paths {
		code, out, errOut := runApp(t, nil, append(p, "--help")...)
		if code != 0 || !strings.Contains(out, "Usage:") {
			t.Errorf("kizuna %s --help: exit %d, stdout %q, stderr %q", strings.Join(p, " "), code, out, errOut)
		}
	}
}

// A database failure is exit 1 and its message never carries the password.
func TestRuntimeFailureHidesSecrets(t *testing.T) {
	env := map[string]string{"KIZUNA_DATABASE_URL": "postgres://kizuna:pw-TOPSECRET-9@127.0.0.1:1/kizuna"}
	code, _, errOut := runApp(t, env, "migrate")
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if strings.Contains(errOut, "pw-TOPSECRET-9") || !strings.Contains(errOut, "127.0.0.1:1") {
		t.Fatalf("stderr = %q", errOut)
	}
}

func TestMigrateCommand(t *testing.T) {
	db := testdb.New(t)
	env := map[string]string{"KIZUNA_DATABASE_URL": db.URL}
	code, out, errOut := runApp(t, env, "migrate")
	if code != 0 || !strings.Contains(out, "up to date") {
		t.Fatalf("migrate on a migrated database: exit %d, %q %q", code, out, errOut)
	}
}

func TestPlainBaseURLWarning(t *testing.T) {
	cases := []struct {
		base, smtp string
		warn       bool
	}{
		{"http://alumni.example.co.jp", "smtp://user:pw@email-smtp.example.com:587", true},
		{"https://alumni.example.co.jp", "smtp://user:pw@email-smtp.example.com:587", false},
		{"http://127.0.0.1:8080", "smtp://127.0.0.1:1025?tls=none", false},
		{"http://127.0.0.1:8080", "smtp://localhost:1025?tls=none", false},
		{"http://127.0.0.1:8080", "file:///tmp/outbox", false},
	}
	for _, c := range cases {
		cfg, err := config.Load(func(k string) string {
			return map[string]string{"KIZUNA_BASE_URL": c.base, "KIZUNA_SMTP_URL": c.smtp}[k]
		}, config.Flags{})
		if err != nil {
			t.Fatal(err)
		}
		w := plainBaseURLWarning(cfg)
		if (w != "") != c.warn {
			t.Errorf("base %s relay %s: warning %q, want warning %v", c.base, c.smtp, w, c.warn)
		}
		if strings.Contains(w, "pw") {
			t.Errorf("warning leaks the relay password: %q", w)
		}
	}
}

// A short KIZUNA_SECRET is invalid, not missing: the command says what is
// wrong with it, exits 2 and does not print the secret.
func TestShortSecretIsNotMissing(t *testing.T) {
	env := map[string]string{"KIZUNA_SECRET": "tiny-secret-QQ"}
	code, _, errOut := runApp(t, env, "campaign", "preview", "examples/none.yaml", "--to", "a@example.jp")
	if code != 2 {
		t.Errorf("exit %d, want 2 (stderr %q)", code, errOut)
	}
	if !strings.Contains(errOut, "KIZUNA_SECRET is too short: at least 32 bytes (got 14)") || strings.Contains(errOut, "missing") {
		t.Errorf("stderr %q, want the too-short message and no \"missing\"", errOut)
	}
	if strings.Contains(errOut, "tiny-secret-QQ") {
		t.Errorf("stderr leaks the secret: %q", errOut)
	}
}

// migrate creates the database its URL names when the server does not have
// it yet, then migrates it; run again, it finds it up to date.
func TestMigrateCreatesAMissingDatabase(t *testing.T) {
	ctx := context.Background()
	admin, err := store.Open(ctx, testdb.AdminURL())
	if err != nil {
		t.Skipf("no test Postgres: %v", err)
	}
	defer admin.Close()
	// The testdb prefix and a creation time, so that a leftover of a killed
	// test process is swept like any other test database.
	name := fmt.Sprintf("%s%d_migrate%d", testdb.Prefix, time.Now().Unix(), time.Now().UnixNano()%1e6)
	t.Cleanup(func() { admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`) })
	u, err := url.Parse(testdb.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	env := map[string]string{"KIZUNA_DATABASE_URL": u.String()}

	code, out, errOut := runApp(t, env, "migrate")
	if code != 0 || !strings.Contains(out, "created database "+name) || !strings.Contains(out, "applied ") {
		t.Fatalf("migrate of a missing database: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, errOut = runApp(t, env, "migrate")
	if code != 0 || strings.Contains(out, "created") || !strings.Contains(out, "up to date") {
		t.Fatalf("second migrate: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// Other commands do not create databases: a typo in the URL is an error.
	u.Path = "/" + name + "_typo"
	code, _, errOut = runApp(t, map[string]string{"KIZUNA_DATABASE_URL": u.String()}, "alumni", "export")
	if code != 1 || !strings.Contains(errOut, "does not exist") || !strings.Contains(errOut, "kizuna migrate") {
		t.Errorf("export against a missing database: exit %d, stderr %q; want exit 1 naming the fix", code, errOut)
	}
}

// testGetenv reads env, with the web server of `kizuna run` on a free port
// unless the test names one (tests run in parallel).
func testGetenv(env map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := env[k]; ok || k != "KIZUNA_LISTEN" {
			return v
		}
		return "127.0.0.1:0"
	}
}
