package mailer

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TLSMode says how a relay connection is protected.
type TLSMode string

// The TLS modes of a relay.
const (
	// TLSStartTLS upgrades a plain connection with STARTTLS and refuses to
	// continue when the server does not offer it: smtp:// by default.
	TLSStartTLS TLSMode = "starttls"
	// TLSOpportunistic upgrades with STARTTLS when offered and otherwise
	// continues in plain text (?tls=opportunistic).
	TLSOpportunistic TLSMode = "opportunistic"
	// TLSNone never upgrades (?tls=none): loopback relays and tests.
	TLSNone TLSMode = "none"
	// TLSImplicit speaks TLS from the first byte: smtps://.
	TLSImplicit TLSMode = "implicit"
)

// Defaults of a relay's optional query parameters.
const (
	// DefaultMaxPerConn caps the messages sent over one connection before it
	// is closed and redialled. Relays such as Amazon SES answer "421 Maximum
	// message count per session reached" after a few hundred, and Japanese
	// carriers ask for short sessions (research/domain.md §3).
	DefaultMaxPerConn = 100
	// DefaultTimeout bounds every SMTP command and the dial.
	DefaultTimeout = 30 * time.Second
)

// Relay is a parsed KIZUNA_SMTP_URL. It holds the password: print it with
// String or log it through LogValue, both of which redact it.
type Relay struct {
	Scheme     string // "smtp", "smtps" or "file"
	Host       string // SMTP host name or address
	Port       int
	Username   string
	Password   string
	TLS        TLSMode
	HELO       string        // name sent in EHLO; "" means "localhost"
	MaxPerConn int           // messages per connection before redialling
	Timeout    time.Duration // per command and for the dial
	Dir        string        // file:// relays: the directory .eml files go to
}

// ParseRelay parses a relay URL (SPEC.md, KIZUNA_SMTP_URL):
//
//	smtp://user:pass@host:587            STARTTLS required (default port 587)
//	smtp://host:25?tls=opportunistic     STARTTLS when offered
//	smtp://127.0.0.1:1025?tls=none       plain text
//	smtps://user:pass@host:465           implicit TLS (default port 465)
//	file:///var/spool/kizuna             write each message as an .eml file
//
// Optional query parameters: helo=NAME, max_per_conn=N (default 100),
// timeout=DURATION (default 30s). Errors never contain the password.
func ParseRelay(rawURL string) (Relay, error) {
	if strings.TrimSpace(rawURL) == "" {
		return Relay{}, errors.New("SMTP relay URL is empty")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		fail := func(format string, args ...any) (Relay, error) {
			return Relay{}, fmt.Errorf("SMTP relay URL: %s", fmt.Sprintf(format, args...))
		}
		// url.Error repeats the whole URL and its inner error may quote
		// pieces of it, the password included; keep only a scrubbed cause.
		var ue *url.Error
		cause := "not a valid URL"
		if errors.As(err, &ue) {
			cause = ue.Err.Error()
		}
		if !strings.Contains(rawURL, "@") && strings.Count(rawURL, ":") > 1 {
			// "smtp://user:secret:host" lost its "@": any quoted piece
			// may be the password, so say only what to check.
			cause = "not a valid URL (check the host, port and user:password@ parts)"
		}
		cause = scrubUserinfo(rawURL, cause)
		return fail("%s", cause)
	}
	shown := *u
	if _, ok := u.User.Password(); ok {
		shown.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	fail := func(format string, args ...any) (Relay, error) {
		return Relay{}, errors.New(scrubUserinfo(rawURL,
			fmt.Sprintf("SMTP relay URL %q: %s", shown.String(), fmt.Sprintf(format, args...))))
	}
	r := Relay{Scheme: strings.ToLower(u.Scheme), MaxPerConn: DefaultMaxPerConn, Timeout: DefaultTimeout}
	q, qerr := url.ParseQuery(u.RawQuery)
	if qerr != nil {
		return fail("bad query string: %s", scrubUserinfo(rawURL, qerr.Error()))
	}
	switch r.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return fail("a file:// relay must be a local path (file:///path/dir), not host %q", u.Host)
		}
		if u.Path == "" {
			return fail("a file:// relay needs a directory path (file:///path/dir)")
		}
		r.Dir = filepath.Clean(u.Path)
		return r, nil
	case "smtp", "smtps":
	default:
		return fail("unknown scheme %q: use smtp://, smtps:// or file://", u.Scheme)
	}
	r.Host = u.Hostname()
	if r.Host == "" {
		return fail("missing host")
	}
	if u.User != nil {
		r.Username = u.User.Username()
		r.Password, _ = u.User.Password()
	}
	switch p := u.Port(); {
	case p == "" && r.Scheme == "smtps":
		r.Port = 465
	case p == "":
		r.Port = 587
	default:
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return fail("bad port %q", p)
		}
		r.Port = n
	}
	tlsParam := strings.ToLower(q.Get("tls"))
	switch {
	case r.Scheme == "smtps":
		if tlsParam != "" && tlsParam != "implicit" {
			return fail("smtps:// always uses implicit TLS; remove tls=%s", tlsParam)
		}
		r.TLS = TLSImplicit
	case tlsParam == "" || tlsParam == "starttls" || tlsParam == "required":
		r.TLS = TLSStartTLS
	case tlsParam == "opportunistic":
		r.TLS = TLSOpportunistic
	case tlsParam == "none":
		r.TLS = TLSNone
	default:
		return fail("unknown tls=%q: use none, opportunistic or starttls", q.Get("tls"))
	}
	if h := q.Get("helo"); h != "" {
		if strings.ContainsAny(h, " \r\n\t") {
			return fail("helo=%q must be a single host name", h)
		}
		r.HELO = h
	}
	if v := q.Get("max_per_conn"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fail("max_per_conn=%q must be a positive whole number", v)
		}
		r.MaxPerConn = n
	}
	if v := q.Get("timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fail("timeout=%q must be a positive duration such as 30s", v)
		}
		r.Timeout = d
	}
	for k := range q {
		switch k {
		case "tls", "helo", "max_per_conn", "timeout":
		default:
			return fail("unknown parameter %q (known: tls, helo, max_per_conn, timeout)", k)
		}
	}
	return r, nil
}

// Addr is host:port of an SMTP relay.
func (r Relay) Addr() string { return net.JoinHostPort(r.Host, strconv.Itoa(r.Port)) }

// Account names the relay account for quotas shared across runs (the
// per-relay daily limit): "user@host", or "host" without a user. It holds no
// secret.
func (r Relay) Account() string {
	if r.Scheme == "file" {
		return "file:" + r.Dir
	}
	if r.Username != "" {
		return r.Username + "@" + r.Host
	}
	return r.Host
}

// String is the relay URL with the password replaced by "xxxxx".
func (r Relay) String() string {
	if r.Scheme == "file" {
		return (&url.URL{Scheme: "file", Path: r.Dir}).String()
	}
	u := url.URL{Scheme: r.Scheme, Host: r.Addr()}
	if r.Username != "" {
		if r.Password != "" {
			u.User = url.UserPassword(r.Username, "xxxxx")
		} else {
			u.User = url.User(r.Username)
		}
	}
	q := url.Values{}
	if r.TLS == TLSNone || r.TLS == TLSOpportunistic {
		q.Set("tls", string(r.TLS))
	}
	if r.HELO != "" {
		q.Set("helo", r.HELO)
	}
	if r.MaxPerConn != DefaultMaxPerConn && r.MaxPerConn > 0 {
		q.Set("max_per_conn", strconv.Itoa(r.MaxPerConn))
	}
	if r.Timeout != DefaultTimeout && r.Timeout > 0 {
		q.Set("timeout", r.Timeout.String())
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// LogValue logs the relay redacted.
func (r Relay) LogValue() slog.Value { return slog.StringValue(r.String()) }

// schemeOf returns "scheme://" of raw, or "" when it has none.
func schemeOf(raw string) string {
	if i := strings.Index(raw, "://"); i > 0 {
		return raw[:i+3]
	}
	return ""
}

// scrubUserinfo removes the userinfo of raw (and every fragment of it) from
// msg. A password holding an unescaped "/", "?" or "#" makes the parser cut
// the URL elsewhere, so the fragments are hidden wherever they land.
func scrubUserinfo(raw, msg string) string {
	authority := strings.TrimPrefix(raw, schemeOf(raw))
	i := strings.LastIndex(authority, "@")
	if i < 0 {
		return msg
	}
	// Whole userinfo first, then its pieces, longest first, so a short
	// piece (the user name) cannot break up a longer match.
	fragments := strings.FieldsFunc(authority[:i], func(r rune) bool { return strings.ContainsRune(":/?#@", r) })
	slices.SortFunc(fragments, func(a, b string) int { return len(b) - len(a) })
	for _, s := range append([]string{authority[:i]}, fragments...) {
		if len(s) > 2 {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
			if dec, err := url.PathUnescape(s); err == nil && len(dec) > 2 {
				msg = strings.ReplaceAll(msg, dec, "xxxxx")
			}
		}
	}
	return msg
}
