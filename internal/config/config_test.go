package config

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const (
	dbPass    = "pg-Pa55w0rd!xyz"
	smtpPass  = "smtp-s3cr3t#zz"
	secret    = "0123456789abcdef0123456789abcdef-kizuna"
	adminTok  = "admin-token-ABCDEFG"
	redisPass = "redis-pw-QQQ"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func secretEnv() map[string]string {
	return map[string]string{
		"KIZUNA_DATABASE_URL": "postgres://kizuna:" + dbPass + "@db.internal:5432/kizuna",
		"KIZUNA_REDIS_URL":    "redis://:" + redisPass + "@127.0.0.1:6379/0",
		"KIZUNA_SMTP_URL":     "smtp://mailer:" + strings.ReplaceAll(smtpPass, "#", "%23") + "@smtp.example.jp:587",
		"KIZUNA_SECRET":       secret,
		"KIZUNA_ADMIN_TOKEN":  adminTok,
	}
}

func TestDefaults(t *testing.T) {
	c, err := Load(env(nil), Flags{})
	if err != nil {
		t.Fatal(err)
	}
	if c.DatabaseURL != DefaultDatabaseURL || c.RedisURL != DefaultRedisURL || c.SMTPURL != DefaultSMTPURL ||
		c.BaseURL != DefaultBaseURL || c.Listen != DefaultListen || c.Campaigns != "" {
		t.Fatalf("defaults not applied: %s", c)
	}
	if err := c.RequireSecret(); err == nil {
		t.Fatal("RequireSecret passed without KIZUNA_SECRET")
	}
}

func TestFlagsOverrideEnvironment(t *testing.T) {
	c, err := Load(env(map[string]string{"KIZUNA_BASE_URL": "https://env.example.jp/", "KIZUNA_LISTEN": ":1"}),
		Flags{BaseURL: "https://flag.example.jp/", Campaigns: "camps"})
	if err != nil {
		t.Fatal(err)
	}
	if c.BaseURL != "https://flag.example.jp" {
		t.Errorf("BaseURL = %q, want the flag without trailing slash", c.BaseURL)
	}
	if c.Listen != ":1" || c.Campaigns != "camps" {
		t.Errorf("Listen=%q Campaigns=%q", c.Listen, c.Campaigns)
	}
}

func TestRequireSecretLength(t *testing.T) {
	c, _ := Load(env(map[string]string{"KIZUNA_SECRET": "xyzzy"}), Flags{})
	err := c.RequireSecret()
	if err == nil || strings.Contains(err.Error(), "xyzzy") {
		t.Fatalf("short secret: err = %v (must fail and not echo the secret)", err)
	}
	c, _ = Load(env(map[string]string{"KIZUNA_SECRET": secret}), Flags{})
	if err := c.RequireSecret(); err != nil {
		t.Fatal(err)
	}
}

// Every printable form of a Config, and anything scrubbed by it, is free of
// the secrets.
func TestSecretsNeverPrinted(t *testing.T) {
	c, err := Load(env(secretEnv()), Flags{})
	if err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "cfg", c)
	outputs := map[string]string{
		"String":  c.String(),
		"%v":      fmt.Sprintf("%v", c),
		"%+v":     fmt.Sprintf("%+v", c),
		"%#v":     fmt.Sprintf("%#v", c),
		"slog":    logged.String(),
		"Scrub":   c.Scrub("dial smtp://mailer:" + smtpPass + "@x failed; secret=" + secret + " token " + adminTok + " db " + dbPass + " redis " + redisPass),
		"Redact":  Redact(c.DatabaseURL) + Redact(c.SMTPURL) + Redact(c.RedisURL),
		"NotURL:": Redact("user:" + dbPass + "@host"),
	}
	for name, out := range outputs {
		for _, s := range []string{dbPass, smtpPass, secret, adminTok, redisPass, "s3cr3t"} {
			if strings.Contains(out, s) {
				t.Errorf("%s output leaks %q: %s", name, s, out)
			}
		}
	}
	if !strings.Contains(c.String(), "db.internal") {
		t.Errorf("String() lost the non-secret host: %s", c)
	}
}

func TestBadURLErrorHidesPassword(t *testing.T) {
	_, err := Load(env(map[string]string{"KIZUNA_DATABASE_URL": "postgres://u:" + dbPass + "@host:bad port/x"}), Flags{})
	if err == nil {
		t.Fatal("bad URL accepted")
	}
	if strings.Contains(err.Error(), dbPass) {
		t.Fatalf("error leaks the password: %v", err)
	}
}

func TestRelayAlertAfter(t *testing.T) {
	c, err := Load(env(map[string]string{"KIZUNA_RELAY_ALERT_AFTER": "45m"}), Flags{})
	if err != nil || c.RelayAlertAfter.Minutes() != 45 {
		t.Fatalf("45m: %v %v", c, err)
	}
	for _, bad := range []string{"soon", "-5m", "0s", "15"} {
		_, err := Load(env(map[string]string{"KIZUNA_RELAY_ALERT_AFTER": bad}), Flags{})
		if err == nil || !strings.Contains(err.Error(), "KIZUNA_RELAY_ALERT_AFTER") {
			t.Errorf("%q: error %v, want one naming the variable", bad, err)
		}
	}
}

// "missing configuration" is said only of a setting that is not there; a
// secret that is set but short says what is wrong with it.
func TestSecretMessages(t *testing.T) {
	c, _ := Load(env(nil), Flags{})
	err := c.RequireSecret()
	if err == nil || !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), "missing configuration: KIZUNA_SECRET is not set") {
		t.Errorf("unset secret: err = %v, want missing configuration: KIZUNA_SECRET is not set", err)
	}
	c, _ = Load(env(map[string]string{"KIZUNA_SECRET": "0123456789"}), Flags{})
	err = c.RequireSecret()
	want := "KIZUNA_SECRET is too short: at least 32 bytes (got 10)"
	if err == nil || err.Error() != want {
		t.Errorf("short secret: err = %v, want %q", err, want)
	}
	if errors.Is(err, ErrMissing) || strings.Contains(fmt.Sprint(err), "missing") {
		t.Errorf("short secret reported as missing: %v", err)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("short secret: err does not wrap ErrInvalid (exit 2): %v", err)
	}
}

// KIZUNA_METRICS_LISTEN is read as is; unset, no metrics listener.
func TestMetricsListen(t *testing.T) {
	c, err := Load(env(nil), Flags{})
	if err != nil {
		t.Fatal(err)
	}
	if c.MetricsListen != "" {
		t.Errorf("MetricsListen defaults to %q, want empty (none)", c.MetricsListen)
	}
	c, err = Load(env(map[string]string{"KIZUNA_METRICS_LISTEN": " 127.0.0.1:9464 "}), Flags{})
	if err != nil {
		t.Fatal(err)
	}
	if c.MetricsListen != "127.0.0.1:9464" {
		t.Errorf("MetricsListen = %q, want 127.0.0.1:9464", c.MetricsListen)
	}
	if !strings.Contains(c.String(), "metrics_listen=127.0.0.1:9464") {
		t.Errorf("String() = %q does not show metrics_listen", c.String())
	}
}

// TestShortSecretIsNotScrubbedFromWords: a secret of a few bytes (refused
// anyway) is not masked in every text, so "too short" stays readable.
func TestShortSecretIsNotScrubbedFromWords(t *testing.T) {
	c, err := Load(env(map[string]string{"KIZUNA_SECRET": "short"}), Flags{})
	if err != nil {
		t.Fatal(err)
	}
	err = c.RequireSecret()
	if err == nil || c.Scrub(err.Error()) != err.Error() || !strings.Contains(err.Error(), "too short") {
		t.Fatalf("short secret: %v, scrubbed %q", err, c.Scrub(fmt.Sprint(err)))
	}
	c, _ = Load(env(map[string]string{"KIZUNA_SECRET": secret}), Flags{})
	if got := c.Scrub("x " + secret + " y"); strings.Contains(got, secret) {
		t.Fatalf("a real secret is not scrubbed: %q", got)
	}
}

// KIZUNA_INBOUND_MAX_BYTES takes bytes or binary units; anything else names
// the variable.
func TestInboundMaxBytes(t *testing.T) {
	for v, want := range map[string]int64{"": 0, "1048576": 1 << 20, "10MiB": 10 << 20, " 512 KiB ": 512 << 10, "25MB": 25 << 20} {
		c, err := Load(env(map[string]string{"KIZUNA_INBOUND_MAX_BYTES": v}), Flags{})
		if err != nil || c.InboundMaxBytes != want {
			t.Errorf("%q: %v %v, want %d", v, c, err, want)
		}
	}
	for _, bad := range []string{"big", "-1", "0", "10TB", "3GiB"} {
		_, err := Load(env(map[string]string{"KIZUNA_INBOUND_MAX_BYTES": bad}), Flags{})
		if err == nil || !strings.Contains(err.Error(), "KIZUNA_INBOUND_MAX_BYTES") {
			t.Errorf("%q: error %v, want one naming the variable", bad, err)
		}
	}
}

// KIZUNA_INBOUND_ADDRESS is a bare local@domain without '+', whose domain
// has a dot; each wrong form is refused (ErrInvalid: exit 2) with what is
// wrong.
func TestInboundAddressChecked(t *testing.T) {
	for v, want := range map[string]string{
		"reply@in.example.co.jp":         "",
		"notanaddress":                   "has no @",
		"reply@":                         "has no domain after the @",
		"@in.example.co.jp":              "has no local part",
		"Reply <reply@in.example.co.jp>": "without a display name",
		"<reply@in.example.co.jp>":       "without a display name or angle brackets",
		"reply+x@in.example.co.jp":       "has a '+' in its local part",
		"reply@localhost":                "needs a dot",
		"reply@in..example.jp":           "is not an address",
		"re ply@in.example.co.jp":        "without a display name",
	} {
		_, err := Load(func(k string) string {
			if k == "KIZUNA_INBOUND_ADDRESS" {
				return v
			}
			return ""
		}, Flags{})
		switch {
		case want == "" && err != nil:
			t.Errorf("%q refused: %v", v, err)
		case want != "" && (err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "not set")):
			t.Errorf("%q: %v, want ErrInvalid saying %q", v, err, want)
		}
	}
}

// KIZUNA_INBOUND_TLS_CERT and KIZUNA_INBOUND_TLS_KEY go together: one
// alone is refused (ErrInvalid: exit 2) naming the one missing; both are
// kept as given (the files are read by the listener).
func TestInboundTLSBothOrNeither(t *testing.T) {
	c, err := Load(env(map[string]string{"KIZUNA_INBOUND_TLS_CERT": "/etc/kizuna/cert.pem", "KIZUNA_INBOUND_TLS_KEY": "/etc/kizuna/key.pem"}), Flags{})
	if err != nil || c.InboundTLSCert != "/etc/kizuna/cert.pem" || c.InboundTLSKey != "/etc/kizuna/key.pem" {
		t.Fatalf("both: %v %+v", err, c)
	}
	c, err = Load(env(nil), Flags{})
	if err != nil || c.InboundTLSCert != "" || c.InboundTLSKey != "" {
		t.Fatalf("neither: %v", err)
	}
	for set, missing := range map[string]string{"KIZUNA_INBOUND_TLS_CERT": "KIZUNA_INBOUND_TLS_KEY", "KIZUNA_INBOUND_TLS_KEY": "KIZUNA_INBOUND_TLS_CERT"} {
		_, err := Load(env(map[string]string{set: "/etc/kizuna/file.pem"}), Flags{})
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), set+" is set but "+missing+" is not") {
			t.Errorf("only %s: %v, want ErrInvalid naming %s", set, err, missing)
		}
	}
}
