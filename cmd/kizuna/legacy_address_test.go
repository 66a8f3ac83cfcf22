package main

import (
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/internal/smtptest"
)

// campaign send-test to a legacy docomo address: the relay gets the local
// part quoted in RCPT TO (RFC 5321 §4.1.2) and the To header parses back
// to the address as typed.
func TestCampaignSendTestLegacyAddress(t *testing.T) {
	t.Parallel()
	env, file := previewSetup(t)
	srv := smtptest.Start(t)
	env["KIZUNA_SMTP_URL"] = srv.URL()
	code, out, errOut := runApp(t, env, "campaign", "send-test", file, "--to", "taro..yamada@docomo.ne.jp")
	if code != 0 || !strings.Contains(out, "taro..yamada@docomo.ne.jp") {
		t.Fatalf("send-test: exit %d\n%s%s", code, out, errOut)
	}
	if !srv.WaitFor(1, 10*time.Second) {
		t.Fatal("relay got no message")
	}
	if cmds := srv.Commands(); !slices.Contains(cmds, `RCPT TO:<"taro..yamada"@docomo.ne.jp>`) {
		t.Errorf("commands %q lack the quoted RCPT TO", cmds)
	}
	m := srv.Messages()[0]
	a, err := mail.ParseAddress(m.Header("To"))
	if err != nil || a.Address != "taro..yamada@docomo.ne.jp" {
		t.Errorf("To %q parses to %+v, %v", m.Header("To"), a, err)
	}
}
