package mailer

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestParseRelay(t *testing.T) {
	t.Parallel()
	cases := []struct {
		url  string
		want Relay
	}{
		{"smtp://user:pass@mail.example.jp:587", Relay{Scheme: "smtp", Host: "mail.example.jp", Port: 587,
			Username: "user", Password: "pass", TLS: TLSStartTLS, MaxPerConn: 100, Timeout: 30 * time.Second}},
		{"smtp://mail.example.jp", Relay{Scheme: "smtp", Host: "mail.example.jp", Port: 587,
			TLS: TLSStartTLS, MaxPerConn: 100, Timeout: 30 * time.Second}},
		{"smtp://127.0.0.1:1025?tls=none", Relay{Scheme: "smtp", Host: "127.0.0.1", Port: 1025,
			TLS: TLSNone, MaxPerConn: 100, Timeout: 30 * time.Second}},
		{"smtp://relay:25?tls=opportunistic&helo=mx.example.jp&max_per_conn=10&timeout=5s", Relay{Scheme: "smtp",
			Host: "relay", Port: 25, TLS: TLSOpportunistic, HELO: "mx.example.jp", MaxPerConn: 10, Timeout: 5 * time.Second}},
		{"smtps://a%40b.jp:p%2Fw%40rd@smtp.example.jp", Relay{Scheme: "smtps", Host: "smtp.example.jp", Port: 465,
			Username: "a@b.jp", Password: "p/w@rd", TLS: TLSImplicit, MaxPerConn: 100, Timeout: 30 * time.Second}},
		{"SMTP://[::1]:2525?tls=none", Relay{Scheme: "smtp", Host: "::1", Port: 2525,
			TLS: TLSNone, MaxPerConn: 100, Timeout: 30 * time.Second}},
		{"file:///var/spool/kizuna/", Relay{Scheme: "file", Dir: "/var/spool/kizuna", MaxPerConn: 100, Timeout: 30 * time.Second}},
	}
	for _, c := range cases {
		got, err := ParseRelay(c.url)
		if err != nil {
			t.Errorf("ParseRelay(%q): %v", c.url, err)
			continue
		}
		if got != c.want {
			t.Errorf("ParseRelay(%q) =\n %+v, want\n %+v", c.url, got, c.want)
		}
	}
}

func TestParseRelayErrors(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"":                                   "empty",
		"http://host":                        "unknown scheme",
		"smtp://:25":                         "missing host",
		"smtp://host:0":                      "bad port",
		"smtp://host:99999":                  "bad port",
		"smtp://host?tls=maybe":              "unknown tls",
		"smtps://host?tls=none":              "implicit TLS",
		"smtp://host?max_per_conn=0":         "max_per_conn",
		"smtp://host?max_per_conn=x":         "max_per_conn",
		"smtp://host?timeout=-1s":            "timeout",
		"smtp://host?timeout=soon":           "timeout",
		"smtp://host?helo=a%20b":             "helo",
		"smtp://host?colour=blue":            `unknown parameter "colour"`,
		"file://otherhost/dir":               "local path",
		"file://":                            "directory path",
		"smtp://user:pa ss@host name:25":     "URL",
		"smtp://user:secret@host:2x5":        "port",
		"smtp://user:secret@host:25?tls=%zz": "query",
	}
	for in, want := range cases {
		_, err := ParseRelay(in)
		if err == nil {
			t.Errorf("ParseRelay(%q) succeeded, want an error about %s", in, want)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("ParseRelay(%q) = %v, want it to mention %q", in, err, want)
		}
	}
}

// TestParseRelayNeverLeaksPassword feeds broken URLs that carry a password
// and checks no error repeats it, whole or in part.
func TestParseRelayNeverLeaksPassword(t *testing.T) {
	t.Parallel()
	const pw = "Tr0ub4dor3x"
	urls := []string{
		"smtp://user:" + pw + "@host:notaport",
		"smtp://user:" + pw + "@ho st:25",
		"smtp://user:" + pw + "@host:25?tls=bogus",
		"smtp://user:" + pw + "@host:25?max_per_conn=-3",
		"smtp://user:" + pw + "@host:25?x=%zz",
		"smtp://user:" + pw + "@:25",
		"ftp://user:" + pw + "@host",
		"smtp://user:" + pw + ":host",
		"smtp://user:" + pw + "@host:25%",
		"smtp://user:" + pw + "%zz@host:25",
		"smtp://user:" + pw + "/x@host:25",
		"smtps://user:" + pw + "@host?tls=none",
		"smtp://" + pw + "@[::1",
	}
	for _, u := range urls {
		_, err := ParseRelay(u)
		if err == nil {
			t.Errorf("ParseRelay(%q) succeeded, want an error", u)
			continue
		}
		if strings.Contains(err.Error(), pw[:6]) {
			t.Errorf("ParseRelay error leaks the password: %v", err)
		}
	}
	r, err := ParseRelay("smtp://hr:" + pw + "@mail.example.jp:587")
	if err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("relay", "relay", r)
	for _, s := range []string{r.String(), fmt.Sprint(r.LogValue()), logged.String()} {
		if strings.Contains(s, pw) || !strings.Contains(s, "xxxxx") {
			t.Errorf("redacted form %q leaks or lacks the mask", s)
		}
	}
	if r.Account() != "hr@mail.example.jp" {
		t.Errorf("Account() = %q", r.Account())
	}
}

func TestParseRelayNumericPasswordWithQuestionMark(t *testing.T) {
	t.Parallel()
	// An unescaped "?" in a numeric password makes "u" the host, 123 the
	// port and the rest a query: the error must still hide it.
	_, err := ParseRelay("smtp://u:123?98765@host")
	if err == nil || strings.Contains(err.Error(), "98765") {
		t.Fatalf("err = %v", err)
	}
}
