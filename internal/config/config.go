// Package config reads Kizuna's settings from KIZUNA_* environment variables
// and the global flags that may override the non-secret ones. Secrets are read
// only from the environment, and every printable form of a Config redacts them.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Defaults from SPEC.md (Configuration).
const (
	DefaultDatabaseURL = "postgres://localhost:5432/kizuna?sslmode=disable"
	DefaultRedisURL    = "redis://127.0.0.1:6379/0"
	DefaultSMTPURL     = "smtp://127.0.0.1:1025?tls=none"
	DefaultBaseURL     = "http://127.0.0.1:8080"
	DefaultListen      = "127.0.0.1:8080"

	// MinSecretLength is the shortest KIZUNA_SECRET accepted, in bytes.
	MinSecretLength = 32
)

// ErrMissing is wrapped by errors about configuration that must be set and
// is not. Commands exit 2 on it (SPEC.md, Commands: missing configuration).
var ErrMissing = errors.New("missing configuration")

// ErrInvalid is wrapped by errors about a setting that is present but
// unusable (a KIZUNA_SECRET that is too short). Its text is not part of the
// message: the wrapping error says what is wrong. Commands exit 2 on it, as
// on ErrMissing.
var ErrInvalid = errors.New("invalid configuration")

// Config holds every setting. Fields holding secrets are unexported behind
// accessors so that fmt and slog never print them by accident.
type Config struct {
	DatabaseURL    string
	RedisURL       string
	SMTPURL        string
	BaseURL        string
	Listen         string
	InboundAddress string
	InboundListen  string
	IMAPURL        string
	// InboundMaxBytes is the size limit of an inbound message in bytes
	// (KIZUNA_INBOUND_MAX_BYTES; 0 when unset: the intake's default,
	// 10 MiB). The SMTP listener refuses a larger message (552); the
	// IMAP poller stores its first InboundMaxBytes bytes.
	InboundMaxBytes int64
	// InboundTLSCert and InboundTLSKey name the PEM certificate (chain)
	// and private key the inbound SMTP listener offers with STARTTLS
	// (KIZUNA_INBOUND_TLS_CERT, KIZUNA_INBOUND_TLS_KEY): both or neither
	// (Load refuses one alone). Empty: no STARTTLS. The files are read
	// by the listener, not here.
	InboundTLSCert string
	InboundTLSKey  string
	Campaigns      string
	// DKIMKeyFile names a PEM private key that signs every message; empty:
	// no DKIM signature. DKIMSelector is its selector, DKIMDomain the d=
	// domain (empty: each campaign's From domain).
	DKIMKeyFile  string
	DKIMSelector string
	DKIMDomain   string
	// RelayAlertAfter is how long the relay may be unreachable before the
	// worker logs an ALERT (KIZUNA_RELAY_ALERT_AFTER, a Go duration such
	// as "15m"; 0 when unset: the worker's default).
	RelayAlertAfter time.Duration
	// MetricsListen is where `kizuna worker` and `kizuna scheduler` serve
	// /metrics and /healthz (KIZUNA_METRICS_LISTEN, host:port); empty:
	// they serve none. `kizuna run` and `serve` use Listen instead.
	MetricsListen string

	secret     string
	adminToken string
}

// Flags are the global flag values that override the environment when set.
type Flags struct {
	DatabaseURL, RedisURL, SMTPURL, BaseURL, Listen, Campaigns string
}

// Load builds a Config from the environment (getenv, usually os.Getenv)
// and the flag overrides. It does not validate the secret: commands that need
// it call RequireSecret.
func Load(getenv func(string) string, f Flags) (*Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	pick := func(flag, env, def string) string {
		if flag != "" {
			return flag
		}
		if v := strings.TrimSpace(getenv(env)); v != "" {
			return v
		}
		return def
	}
	c := &Config{
		DatabaseURL:    pick(f.DatabaseURL, "KIZUNA_DATABASE_URL", DefaultDatabaseURL),
		RedisURL:       pick(f.RedisURL, "KIZUNA_REDIS_URL", DefaultRedisURL),
		SMTPURL:        pick(f.SMTPURL, "KIZUNA_SMTP_URL", DefaultSMTPURL),
		BaseURL:        strings.TrimRight(pick(f.BaseURL, "KIZUNA_BASE_URL", DefaultBaseURL), "/"),
		Listen:         pick(f.Listen, "KIZUNA_LISTEN", DefaultListen),
		MetricsListen:  pick("", "KIZUNA_METRICS_LISTEN", ""),
		InboundAddress: pick("", "KIZUNA_INBOUND_ADDRESS", ""),
		InboundListen:  pick("", "KIZUNA_INBOUND_LISTEN", ""),
		IMAPURL:        pick("", "KIZUNA_IMAP_URL", ""),
		InboundTLSCert: pick("", "KIZUNA_INBOUND_TLS_CERT", ""),
		InboundTLSKey:  pick("", "KIZUNA_INBOUND_TLS_KEY", ""),
		Campaigns:      pick(f.Campaigns, "KIZUNA_CAMPAIGNS", ""),
		DKIMKeyFile:    pick("", "KIZUNA_DKIM_KEY_FILE", ""),
		DKIMSelector:   pick("", "KIZUNA_DKIM_SELECTOR", "kizuna"),
		DKIMDomain:     pick("", "KIZUNA_DKIM_DOMAIN", ""),
		secret:         getenv("KIZUNA_SECRET"),
		adminToken:     getenv("KIZUNA_ADMIN_TOKEN"),
	}
	if v := strings.TrimSpace(getenv("KIZUNA_RELAY_ALERT_AFTER")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("KIZUNA_RELAY_ALERT_AFTER=%q is not a positive duration such as 15m or 1h", v)
		}
		c.RelayAlertAfter = d
	}
	if v := strings.TrimSpace(getenv("KIZUNA_INBOUND_MAX_BYTES")); v != "" {
		n, err := parseBytes(v)
		if err != nil {
			return nil, fmt.Errorf("KIZUNA_INBOUND_MAX_BYTES=%q is not a size in bytes such as 10485760 or 10MiB", v)
		}
		c.InboundMaxBytes = n
	}
	if (c.InboundTLSCert == "") != (c.InboundTLSKey == "") {
		set, unset := "KIZUNA_INBOUND_TLS_CERT", "KIZUNA_INBOUND_TLS_KEY"
		if c.InboundTLSCert == "" {
			set, unset = unset, set
		}
		return nil, invalid(fmt.Sprintf("%s is set but %s is not: the inbound listener's STARTTLS needs both, "+
			"the certificate and its private key (PEM files, e.g. /etc/letsencrypt/live/in.example.co.jp/fullchain.pem and privkey.pem)", set, unset))
	}
	if c.InboundAddress != "" {
		if err := CheckInboundAddress(c.InboundAddress); err != nil {
			return nil, err
		}
	}
	for name, raw := range map[string]string{
		"KIZUNA_DATABASE_URL": c.DatabaseURL,
		"KIZUNA_REDIS_URL":    c.RedisURL,
		"KIZUNA_SMTP_URL":     c.SMTPURL,
		"KIZUNA_BASE_URL":     c.BaseURL,
	} {
		if _, err := url.Parse(raw); err != nil {
			// url.Parse errors quote the input, which may hold a password.
			return nil, fmt.Errorf("%s is not a valid URL: %s", name, Redact(raw))
		}
	}
	return c, nil
}

// CheckInboundAddress reports whether v can be KIZUNA_INBOUND_ADDRESS: a
// bare addr-spec local@domain (RFC 5322 §3.4.1, as net/mail reads it),
// without a display name or angle brackets, whose local part has no '+'
// (Kizuna writes reply+TOKEN@ itself: RFC 5233 subaddressing) and whose
// domain has a dot (a name the Internet can deliver to). The error wraps
// ErrInvalid and says what is wrong.
func CheckInboundAddress(v string) error {
	bad := func(why string) error {
		return invalid(fmt.Sprintf("KIZUNA_INBOUND_ADDRESS=%q %s (e.g. reply@in.example.co.jp)", v, why))
	}
	at := strings.LastIndexByte(v, '@')
	switch {
	case at < 0:
		return bad("is not an address: it has no @")
	case strings.ContainsAny(v, "<>") || strings.Contains(strings.TrimSpace(v[:at]), " "):
		return bad("must be a bare address local@domain, without a display name or angle brackets")
	case at == 0:
		return bad("has no local part before the @")
	case at == len(v)-1:
		return bad("has no domain after the @")
	}
	a, err := mail.ParseAddress(v)
	if err != nil {
		return bad("is not an address: " + err.Error())
	}
	if a.Name != "" || a.Address != v {
		return bad("must be a bare address local@domain, without a display name or angle brackets")
	}
	local, domain := a.Address[:strings.LastIndexByte(a.Address, '@')], a.Address[strings.LastIndexByte(a.Address, '@')+1:]
	if strings.Contains(local, "+") {
		return bad("has a '+' in its local part: Kizuna adds +TOKEN itself (reply+TOKEN@…); give the plain address")
	}
	if !strings.Contains(strings.Trim(domain, "."), ".") || strings.HasPrefix(domain, ".") || strings.Contains(domain, "..") {
		return bad("has no usable domain: " + strconv.Quote(domain) + " needs a dot, as in in.example.co.jp")
	}
	return nil
}

// parseBytes reads a positive size: a number of bytes, or a number with
// KiB, MiB or GiB (also KB, MB, GB, taken as the binary units).
func parseBytes(v string) (int64, error) {
	mult := int64(1)
	upper := strings.ToUpper(v)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(upper, u.suffix) {
			mult, v = u.mult, strings.TrimSpace(v[:len(v)-len(u.suffix)])
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 || n > (1<<31-1)/mult {
		return 0, errors.New("not a positive size under 2 GiB")
	}
	return n * mult, nil
}

// invalidError is a setting that is present but unusable: its message is
// the whole text, and errors.Is(err, ErrInvalid) holds.
type invalidError string

func (e invalidError) Error() string { return string(e) }
func (e invalidError) Unwrap() error { return ErrInvalid }

func invalid(msg string) error { return invalidError(msg) }

// Secret returns KIZUNA_SECRET.
func (c *Config) Secret() []byte { return []byte(c.secret) }

// AdminToken returns KIZUNA_ADMIN_TOKEN ("" when /admin is disabled).
func (c *Config) AdminToken() string { return c.adminToken }

// RequireSecret reports whether KIZUNA_SECRET is set and long enough
// (MinSecretLength bytes, SPEC.md Configuration): nil when it is; an error
// wrapping ErrMissing when it is unset; one wrapping ErrInvalid, "KIZUNA_SECRET
// is too short: at least 32 bytes (got N)", when it is shorter. Neither error
// holds the secret.
func (c *Config) RequireSecret() error {
	if c.secret == "" {
		return fmt.Errorf("%w: KIZUNA_SECRET is not set (at least %d bytes of any text; e.g. openssl rand -hex 32)", ErrMissing, MinSecretLength)
	}
	if len(c.secret) < MinSecretLength {
		return invalid(fmt.Sprintf("KIZUNA_SECRET is too short: at least %d bytes (got %d)", MinSecretLength, len(c.secret)))
	}
	return nil
}

// minScrubbed is the shortest KIZUNA_SECRET or KIZUNA_ADMIN_TOKEN that
// Secrets lists for scrubbing.
const minScrubbed = 8

// Secrets lists the secret values in force, so that log handlers and error
// printers can scrub them from any text.
func (c *Config) Secrets() []string {
	var out []string
	for _, s := range []string{c.secret, c.adminToken} {
		// A value of a few bytes is refused anyway (RequireSecret), and
		// masking it everywhere would garble ordinary words ("too short")
		// while pointing at it.
		if len(s) >= minScrubbed {
			out = append(out, s)
		}
	}
	for _, raw := range []string{c.DatabaseURL, c.RedisURL, c.SMTPURL, c.IMAPURL} {
		if u, err := url.Parse(raw); err == nil && u.User != nil {
			if p, ok := u.User.Password(); ok && p != "" {
				out = append(out, p, url.QueryEscape(p), url.PathEscape(p))
			}
		}
		if u, err := url.Parse(raw); err == nil {
			if p := u.Query().Get("password"); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// String prints the configuration with every secret redacted.
func (c *Config) String() string {
	return fmt.Sprintf("database=%s redis=%s smtp=%s base_url=%s listen=%s metrics_listen=%s secret=%s admin_token=%s",
		Redact(c.DatabaseURL), Redact(c.RedisURL), Redact(c.SMTPURL), c.BaseURL, c.Listen, c.MetricsListen,
		mask(c.secret), mask(c.adminToken))
}

// LogValue makes slog print the redacted form.
func (c *Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// GoString keeps %#v from printing the unexported secret fields.
func (c *Config) GoString() string { return "config.Config{" + c.String() + "}" }

func mask(s string) string {
	if s == "" {
		return "(unset)"
	}
	return "(set)"
}

// Redact returns raw with the password of a URL (user info or a password
// query parameter) replaced by "xxxxx". Text that is not a URL is returned
// with nothing after a '@' user-info part.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || !strings.Contains(raw, "://") {
		if i := strings.LastIndex(raw, "@"); i >= 0 {
			return "xxxxx" + raw[i:]
		}
		return raw
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	q := u.Query()
	if q.Get("password") != "" {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// Scrub replaces every secret of c found in text with "xxxxx".
func (c *Config) Scrub(text string) string {
	for _, s := range c.Secrets() {
		if len(s) >= 3 {
			text = strings.ReplaceAll(text, s, "xxxxx")
		}
	}
	return text
}
