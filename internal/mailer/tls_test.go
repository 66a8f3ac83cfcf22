package mailer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/kizuna-alumni/kizuna/internal/smtptest"
)

func TestStartTLSAndAuth(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	pool, err := srv.EnableStartTLS()
	if err != nil {
		t.Fatal(err)
	}
	srv.RequireAuth("hr", "tls-secret")
	s := newSender(t, fmt.Sprintf("smtp://hr:tls-secret@127.0.0.1:%d?max_per_conn=5", srv.Port),
		WithTLSConfig(&tls.Config{RootCAs: pool}))
	sendAll(t, s, 7)
	// go-smtp starts a new session after STARTTLS, so each connection
	// counts twice: 2 connections are 4 sessions.
	if got := srv.Connections(); got != 4 {
		t.Errorf("7 messages at max_per_conn=5 over STARTTLS opened %d sessions, want 4 (2 connections)", got)
	}
	if srv.Accepted() != 7 {
		t.Errorf("accepted %d", srv.Accepted())
	}
}

func TestStartTLSUntrustedCertificate(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	if _, err := srv.EnableStartTLS(); err != nil {
		t.Fatal(err)
	}
	s := newSender(t, fmt.Sprintf("smtp://127.0.0.1:%d", srv.Port)) // system roots do not trust it
	err := s.Send(context.Background(), env(1))
	var se *SendError
	if !errors.As(err, &se) || se.Stage != StageStartTLS || se.Outcome != SenderRejected {
		t.Fatalf("untrusted certificate: %v, want STARTTLS sender_rejected", err)
	}
	// Reported as what it is, with the fix; never as a rejected sender.
	why := Explain(err)
	for _, want := range []string{"certificate", "not trusted", "SSL_CERT_FILE", "SSL_CERT_DIR"} {
		if !strings.Contains(why, want) {
			t.Errorf("explanation %q lacks %q", why, want)
		}
	}
	if strings.Contains(why, "rejected the sender") {
		t.Errorf("explanation %q blames the sender", why)
	}
	if srv.Accepted() != 0 {
		t.Error("sent over an unverified connection")
	}
}

func TestOpportunisticUpgrades(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	pool, err := srv.EnableStartTLS()
	if err != nil {
		t.Fatal(err)
	}
	srv.RequireAuth("hr", "pw")
	// Over a non-loopback name PLAIN needs TLS: it only works if the
	// opportunistic mode really upgraded.
	s := newSender(t, fmt.Sprintf("smtp://hr:pw@localhost:%d?tls=opportunistic", srv.Port),
		WithTLSConfig(&tls.Config{RootCAs: pool}))
	sendAll(t, s, 2)
}
