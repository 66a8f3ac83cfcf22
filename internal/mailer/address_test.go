package mailer

import (
	"context"
	"testing"

	"github.com/kizuna-alumni/kizuna/internal/smtptest"
)

// Legacy docomo and au addresses are stored as written ("taro..yamada",
// "hanako."): the envelope quotes their local part (RFC 5321 §4.1.2), on
// every write path; a dot-atom stays as it is.
func TestEnvelopeQuotesLegacyLocalParts(t *testing.T) {
	t.Parallel()
	for _, path := range writePaths {
		t.Run(path.name, func(t *testing.T) {
			t.Parallel()
			srv := smtptest.Start(t)
			s := newSender(t, srv.URL(), path.opts...)
			for _, e := range []Envelope{
				{From: "bounce@example.co.jp", To: "taro..yamada@docomo.ne.jp"},
				{From: "hr.@example.co.jp", To: "hanako.@ezweb.ne.jp"},
				{From: "bounce@example.co.jp", To: "taro.yamada@example.jp"},
			} {
				e.Data = message(0, `"x"@example.jp`)
				if err := s.Send(context.Background(), e); err != nil {
					t.Fatalf("Send to %s: %v", e.To, err)
				}
			}
			want := []string{
				"MAIL FROM:<bounce@example.co.jp>", `RCPT TO:<"taro..yamada"@docomo.ne.jp>`,
				`MAIL FROM:<"hr."@example.co.jp>`, `RCPT TO:<"hanako."@ezweb.ne.jp>`,
				"MAIL FROM:<bounce@example.co.jp>", "RCPT TO:<taro.yamada@example.jp>",
			}
			got := srv.Commands()
			if len(got) != len(want) {
				t.Fatalf("commands = %q, want %q", got, want)
			}
			for i := range want {
				// MAIL FROM may carry parameters (BODY=8BITMIME).
				if got[i] != want[i] && got[i] != want[i]+" BODY=8BITMIME" {
					t.Errorf("command %d = %s, want %s", i, got[i], want[i])
				}
			}
			// The relay reads the quoted path back to the stored address.
			if m := srv.Messages(); m[0].To[0] != "taro..yamada@docomo.ne.jp" || m[1].From != "hr.@example.co.jp" {
				t.Errorf("relay recorded %q from %q", m[0].To, m[1].From)
			}
		})
	}
}

// An already quoted address is not quoted twice, and what cannot be
// written on a command line at all is still refused before the relay.
func TestEnvelopeQuotedAndUnwritableAddresses(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	s := newSender(t, srv.URL())
	if err := s.Send(context.Background(), Envelope{From: "b@example.co.jp", To: `"taro..yamada"@docomo.ne.jp`, Data: message(1, "x@y.jp")}); err != nil {
		t.Fatal(err)
	}
	if got := srv.Commands()[1]; got != `RCPT TO:<"taro..yamada"@docomo.ne.jp>` {
		t.Errorf("already quoted: %s", got)
	}
	for _, to := range []string{"a\x00b@y.jp", "a@y.jp\r\nRSET", "a@<y>.jp", "a@y .jp", "nodomain"} {
		if err := s.Send(context.Background(), Envelope{From: "b@example.co.jp", To: to, Data: []byte("x")}); Classify(err) != Permanent {
			t.Errorf("Send to %q = %v, want permanent", to, err)
		}
	}
	if n := len(srv.Commands()); n != 2 {
		t.Errorf("%d commands reached the relay, want 2", n)
	}
}
