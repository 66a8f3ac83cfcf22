package mailer

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kizuna-alumni/kizuna/internal/smtptest"
)

// eightBitEnv is a message with an 8bit body (RFC 6152).
func eightBitEnv(to string) Envelope {
	data := "From: HR <hr@example.co.jp>\r\nTo: " + to + "\r\nSubject: 8bit\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nお元気ですか\r\n"
	return Envelope{From: "bounce@example.co.jp", To: to, Data: []byte(data), EightBit: true}
}

// A relay that offers 8BITMIME takes an 8bit message with BODY=8BITMIME;
// one that does not is never sent it: Send refuses with ErrNo8BitMIME, a
// Temporary outcome, before MAIL, and the session stays usable for a
// message without 8bit.
func TestEightBitOnlyWith8BITMIME(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	s := newSender(t, srv.URL())
	if err := s.Send(context.Background(), eightBitEnv("a@example.jp")); err != nil {
		t.Fatalf("relay with 8BITMIME: %v", err)
	}
	if cmds := srv.Commands(); len(cmds) == 0 || !strings.Contains(cmds[0], "BODY=8BITMIME") {
		t.Errorf("MAIL without BODY=8BITMIME: %q", cmds)
	}

	plain := smtptest.Start(t)
	plain.SetNo8BitMIME(true)
	s2 := newSender(t, plain.URL())
	err := s2.Send(context.Background(), eightBitEnv("b@example.jp"))
	var se *SendError
	if !errors.Is(err, ErrNo8BitMIME) || !errors.As(err, &se) || Classify(err) != Temporary {
		t.Fatalf("relay without 8BITMIME: err %v (outcome %v), want ErrNo8BitMIME, Temporary", err, Classify(err))
	}
	if plain.Accepted() != 0 || len(plain.Commands()) != 0 {
		t.Errorf("the relay without 8BITMIME saw MAIL %q and accepted %d", plain.Commands(), plain.Accepted())
	}
	if err := s2.Send(context.Background(), env(1)); err != nil {
		t.Fatalf("a 7bit message afterwards: %v", err)
	}
	if cmds := plain.Commands(); len(cmds) == 0 || strings.Contains(cmds[0], "BODY=") {
		t.Errorf("MAIL to a relay without 8BITMIME: %q", cmds)
	}
}

// Probe reads the relay's extensions: true with 8BITMIME, false without,
// true for a file:// relay (a file keeps any octet), an error for a relay
// that does not answer.
func TestProbe(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := smtptest.Start(t)
	relay := func(raw string) Relay {
		r, err := ParseRelay(raw)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if ok, err := Probe(ctx, relay(srv.URL())); !ok || err != nil {
		t.Errorf("relay with 8BITMIME: %v, %v", ok, err)
	}
	srv.SetNo8BitMIME(true)
	if ok, err := Probe(ctx, relay(srv.URL())); ok || err != nil {
		t.Errorf("relay without 8BITMIME: %v, %v", ok, err)
	}
	if ok, err := Probe(ctx, relay("file://"+filepath.Join(t.TempDir(), "out"))); !ok || err != nil {
		t.Errorf("file relay: %v, %v", ok, err)
	}
	srv.Stop()
	if _, err := Probe(ctx, relay(srv.URL())); err == nil {
		t.Error("a relay that does not answer: no error")
	}
	if srv.Connections() < 2 {
		t.Errorf("%d connections, want the probes", srv.Connections())
	}
}
