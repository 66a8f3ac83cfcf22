package main

import (
	"encoding/json"
	"net"
	"net/smtp"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/internal/testbin"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
)

// `kizuna inbound` with neither a listener nor a mailbox configured exits 2
// and says what to set.
func TestInboundWithoutConfigurationExits2(t *testing.T) {
	t.Parallel()
	code, _, errOut := runApp(t, map[string]string{"KIZUNA_SECRET": testSecret}, "inbound")
	if code != 2 || !strings.Contains(errOut, "neither KIZUNA_INBOUND_LISTEN nor KIZUNA_IMAP_URL is set") {
		t.Errorf("exit %d, stderr %q; want 2 and the message", code, errOut)
	}
	// A listener needs the inbound address (its domain is the only one
	// accepted).
	code, _, errOut = runApp(t, map[string]string{"KIZUNA_SECRET": testSecret, "KIZUNA_INBOUND_LISTEN": "127.0.0.1:0"}, "inbound")
	if code != 2 || !strings.Contains(errOut, "KIZUNA_INBOUND_ADDRESS is not set") {
		t.Errorf("without the address: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runApp(t, map[string]string{"KIZUNA_SECRET": testSecret, "KIZUNA_INBOUND_LISTEN": "http://x:1",
		"KIZUNA_INBOUND_ADDRESS": "reply@in.example.co.jp"}, "inbound")
	if code != 2 || !strings.Contains(errOut, "KIZUNA_INBOUND_LISTEN") {
		t.Errorf("a bad listen address: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runApp(t, map[string]string{"KIZUNA_SECRET": testSecret, "KIZUNA_IMAP_URL": "imaps://u:SeCrEt-imap-pw@host:bad/"}, "inbound")
	if code != 2 || strings.Contains(errOut, "SeCrEt-imap-pw") {
		t.Errorf("a bad IMAP URL: exit %d, stderr %q (want 2, no password)", code, errOut)
	}
}

// The real binary takes a message over SMTP, stores and processes it;
// `inbound list` shows it, `inbound reprocess` classifies it again, and
// SIGTERM stops the intake with exit 0.
func TestInboundBinaryListReprocess(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	env := map[string]string{"KIZUNA_DATABASE_URL": db.URL, "KIZUNA_SECRET": testSecret,
		"KIZUNA_INBOUND_LISTEN": "smtp://" + addr, "KIZUNA_INBOUND_ADDRESS": "reply@in.example.co.jp"}
	p := testbin.Start(t, testbin.Options{Name: "inbound", Args: []string{"inbound"}, Vars: env})
	p.WaitOutput(t, "inbound listener ready", 20*time.Second)

	msg := "From: =?ISO-2022-JP?B?GyRCOzNFRBsoQg==?= <yamada@example.jp>\r\nTo: reply+x@in.example.co.jp\r\n" +
		"Subject: =?UTF-8?B?5Y+C5Yqg44GX44G+44GZ?=\r\nMessage-ID: <r1@example.jp>\r\n\r\nはい\r\n"
	if err := smtp.SendMail(addr, nil, "yamada@example.jp", []string{"reply+x@in.example.co.jp"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	if err := smtp.SendMail(addr, nil, "x@example.net", []string{"someone@example.net"}, []byte(msg)); err == nil ||
		!strings.Contains(err.Error(), "550") {
		t.Errorf("relaying to a foreign domain: %v, want 550", err)
	}
	var listed struct {
		Messages []struct {
			From, Subject, Class, Source string
			MessageID                    string `json:"message_id"`
		} `json:"messages"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, out, errOut := runApp(t, env, "inbound", "list", "--json")
		if code != 0 {
			t.Fatalf("inbound list: exit %d %s", code, errOut)
		}
		if err := json.Unmarshal([]byte(out), &listed); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if len(listed.Messages) == 1 && listed.Messages[0].Class != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not processed: %s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	m := listed.Messages[0]
	if m.From != "yamada@example.jp" || m.Subject != "参加します" || m.Class != "human_reply" || m.Source != "smtp" || m.MessageID != "r1@example.jp" {
		t.Errorf("listed %+v", m)
	}
	code, out, _ := runApp(t, env, "inbound", "list")
	if code != 0 || !strings.Contains(out, "参加します") || !strings.Contains(out, "human_reply") {
		t.Errorf("inbound list: exit %d\n%s", code, out)
	}
	code, out, _ = runApp(t, env, "inbound", "list", "--unattributed")
	if code != 0 || !strings.Contains(out, "参加します") {
		t.Errorf("inbound list --unattributed: exit %d\n%s", code, out)
	}

	code, out, errOut := runApp(t, env, "inbound", "reprocess", "--since", "1h")
	if code != 0 || !strings.Contains(out, "reprocessed 1 message") {
		t.Errorf("reprocess --since 1h: exit %d %q %q", code, out, errOut)
	}
	code, out, _ = runApp(t, env, "inbound", "reprocess", "--since", "2099-01-01")
	if code != 0 || !strings.Contains(out, "reprocessed 0 message") {
		t.Errorf("reprocess --since 2099-01-01: exit %d %q", code, out)
	}
	code, _, errOut = runApp(t, env, "inbound", "reprocess", "--since", "soon")
	if code != 2 || !strings.Contains(errOut, "--since") {
		t.Errorf("reprocess --since soon: exit %d %q", code, errOut)
	}
	var processed int
	db.Get(&processed, `SELECT count(*) FROM inbound_messages WHERE processed_at IS NOT NULL`)
	if processed != 1 {
		t.Errorf("%d processed after reprocess, want 1", processed)
	}
	if code, took := p.Terminate(t, 15*time.Second); code != 0 {
		t.Errorf("SIGTERM: exit %d after %s\n%s", code, took, p.Output())
	}
}
