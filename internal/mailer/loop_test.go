package mailer

import (
	"context"
	"fmt"
	"sort"
	"testing"

	"github.com/kizuna-alumni/kizuna/internal/smtptest"
)

// Both reference loops deliver every message, to its own recipient, from
// the envelope sender, with the message's content.
func TestReferenceLoopsDeliverEveryMessage(t *testing.T) {
	t.Parallel()
	for name, loop := range map[string]func(context.Context, Relay, int, int, Envelope) error{
		"SendLoop": func(ctx context.Context, r Relay, conns, n int, env Envelope) error {
			_, err := SendLoop(ctx, r, conns, n, env)
			return err
		},
		"GoMailClientLoop": func(ctx context.Context, r Relay, conns, n int, env Envelope) error {
			_, err := GoMailClientLoop(ctx, r, conns, n, env)
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := smtptest.Start(t)
			relay, err := ParseRelay(srv.URL())
			if err != nil {
				t.Fatal(err)
			}
			msg := renderedMessage(1)
			if err := loop(context.Background(), relay, 3, 7, Envelope{From: "bounce@example.co.jp", To: "alum@example.jp", Data: msg}); err != nil {
				t.Fatal(err)
			}
			got := srv.Messages()
			if len(got) != 7 {
				t.Fatalf("server got %d messages, want 7", len(got))
			}
			var to []string
			for _, m := range got {
				if m.From != "bounce@example.co.jp" || len(m.To) != 1 {
					t.Fatalf("envelope from %q to %v", m.From, m.To)
				}
				to = append(to, m.To[0])
				if m.Header("Subject") == "" || m.Header("Message-ID") == "" {
					t.Fatalf("message lost its headers:\n%s", m.Data)
				}
				// Same size within a few header bytes (go-mail writes the
				// message out again).
				if d := len(m.Data) - len(msg); d < -200 || d > 400 {
					t.Fatalf("delivered %d bytes for a %d-byte message", len(m.Data), len(msg))
				}
			}
			sort.Strings(to)
			var want []string
			for i := range 7 {
				want = append(want, fmt.Sprintf("alum%d@example.jp", i))
			}
			sort.Strings(want)
			if fmt.Sprint(to) != fmt.Sprint(want) {
				t.Fatalf("recipients %v, want %v", to, want)
			}
		})
	}
}
