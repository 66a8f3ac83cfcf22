package mailer

import (
	"strings"
	"testing"
)

// FuzzParseRelay checks that no relay URL panics the parser and that the
// password never shows in an error or in the redacted form.
func FuzzParseRelay(f *testing.F) {
	for _, s := range []string{
		"smtp://user:pass@host:587", "smtps://u:p@h", "file:///tmp/x", "smtp://h?tls=none&max_per_conn=3",
		"smtp://user:pa/ss@host", "smtp://u:123?456@h", "smtp://[::1]:25", "smtp://u:p%zz@h", "", "::::",
	} {
		f.Add(s, "Zq9Secret")
	}
	f.Fuzz(func(t *testing.T, raw, secret string) {
		if len(secret) < 6 || strings.ContainsAny(secret, ":/?#@%[] \t\r\n") {
			return
		}
		i := strings.Index(raw, "://")
		if i < 0 || strings.Contains(raw, secret) {
			return // the secret is only a password where it is injected
		}
		rawWith := raw[:i+3] + "user:" + secret + "@" + raw[i+3:]
		r, err := ParseRelay(rawWith)
		if err != nil {
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error leaks the password: %v", err)
			}
			return
		}
		if r.Password != "" && strings.Contains(r.String(), r.Password) && !strings.Contains(r.Host+r.Username+r.Dir+r.HELO, r.Password) {
			t.Fatalf("String() leaks the password: %s", r.String())
		}
	})
}
