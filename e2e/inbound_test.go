package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/internal/smtptest"
	"github.com/kizuna-alumni/kizuna/internal/testbin"
)

// inboundAddress is where replies and bounces come back in these tests.
const inboundAddress = "reply@in.example.co.jp"

// TestRepliesAndBounces: `kizuna run` sends a campaign with an inbound
// address and listens for what comes back. One alumnus replies, one
// address bounces (a DSN to the VERP sender), one mailbox answers with an
// out-of-office notice. campaign status counts the reply and the bounce,
// the bounced address is suppressed, the reply reaches HR's reply_to with
// Reply-To set to the alumnus, and the automatic reply is not forwarded.
func TestRepliesAndBounces(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	campaignsDir := filepath.Join(dir, "campaigns")
	if err := os.Mkdir(campaignsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	copyExample(t, campaignsDir, "kizuna.yaml")
	launch := copyExample(t, campaignsDir, launchID+".yaml")
	roster, _ := writeRoster(t, dir)
	kizuna(t, e.vars, "alumni", "import", roster) // one hostile row is rejected (exit 2); the rest are in

	listen := freeAddr(t)
	inbound := map[string]string{"KIZUNA_INBOUND_ADDRESS": inboundAddress, "KIZUNA_INBOUND_LISTEN": "smtp://" + listen}
	for k, v := range inbound {
		e.vars[k] = v
	}
	run := e.start(t, "kizuna run", "run", "--campaigns", campaignsDir)
	e.must(t, "campaign", "start", launch, "--yes")
	st := e.waitDone(t, launchID, 1, 30*time.Second, run)
	msgs := e.relay.Messages()
	if len(msgs) < 3 || len(msgs) != st[0].Sent {
		t.Fatalf("relay got %d messages, status says %d sent; want at least 3", len(msgs), st[0].Sent)
	}
	replier, bounced, away := parseMessage(t, msgs[0]), parseMessage(t, msgs[1]), parseMessage(t, msgs[2])
	for _, p := range []parsed{replier, bounced, away} {
		if !strings.HasPrefix(p.header.Get("Reply-To"), "reply+") && !strings.Contains(p.header.Get("Reply-To"), "<reply+") {
			t.Fatalf("Reply-To %q is not the inbound address with a token", p.header.Get("Reply-To"))
		}
	}
	replyTo := func(p parsed) string {
		a, err := p.header.AddressList("Reply-To")
		if err != nil || len(a) != 1 {
			t.Fatalf("Reply-To %q: %v", p.header.Get("Reply-To"), err)
		}
		return a[0].Address
	}
	msgID := func(p parsed) string {
		id, err := p.header.MessageID()
		if err != nil {
			t.Fatal(err)
		}
		return id
	}

	// 1. A person answers from their mail program.
	deliver(t, listen, replier.to, replyTo(replier), fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: Re: %s\r\n"+
		"Message-ID: <r1@mail.example.jp>\r\nIn-Reply-To: <%s>\r\nReferences: <%s>\r\nDate: %s\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n"+
		"ご案内ありがとうございます。ぜひ参加したいです。\r\n", replier.to, replyTo(replier), "ご案内",
		msgID(replier), msgID(replier), time.Now().Format(time.RFC1123Z)))

	// 2. The recipient's server returns the message (RFC 3464) to the
	// envelope sender, the VERP address.
	verp := msgs[1].From
	if !strings.HasPrefix(verp, "reply+b.") {
		t.Fatalf("envelope sender %q is not the VERP bounce address", verp)
	}
	dsn := fmt.Sprintf("From: Mail Delivery System <MAILER-DAEMON@mx.example.jp>\r\nTo: <%s>\r\n"+
		"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <b1@mx.example.jp>\r\nDate: %s\r\n"+
		"Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: multipart/report; report-type=delivery-status; boundary=\"BB\"\r\n\r\n"+
		"--BB\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"+
		"--BB\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.jp\r\n\r\n"+
		"Final-Recipient: rfc822; %s\r\nAction: failed\r\nStatus: 5.1.1\r\n"+
		"Diagnostic-Code: smtp; 550 5.1.1 <%s>: Recipient address rejected: User unknown\r\n"+
		"--BB\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <%s>\r\nTo: <%s>\r\nSubject: x\r\n"+
		"--BB--\r\n", verp, time.Now().Format(time.RFC1123Z), bounced.to, bounced.to, msgID(bounced), bounced.to)
	deliver(t, listen, "", verp, dsn)

	// 3. An out-of-office notice (RFC 3834).
	deliver(t, listen, away.to, replyTo(away), fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: =?UTF-8?B?%s?=\r\n"+
		"Message-ID: <a1@mail.example.jp>\r\nIn-Reply-To: <%s>\r\nAuto-Submitted: auto-replied\r\nDate: %s\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n"+
		"ただいま不在にしております。\r\n", away.to, replyTo(away), b64("自動応答: 不在のお知らせ"), msgID(away),
		time.Now().Format(time.RFC1123Z)))

	// campaign status counts the reply and the bounce.
	deadline := time.Now().Add(20 * time.Second)
	for {
		var raw struct {
			Runs []struct {
				Replied int `json:"replied"`
				Bounced int `json:"bounced"`
			} `json:"runs"`
		}
		r := e.must(t, "campaign", "status", launchID, "--json")
		if err := json.Unmarshal([]byte(r.Stdout), &raw); err != nil {
			t.Fatal(err)
		}
		if len(raw.Runs) == 1 && raw.Runs[0].Replied == 1 && raw.Runs[0].Bounced == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status after a reply and a bounce: %+v, want replied 1 and bounced 1\n%s", raw.Runs, testbin.Tail(run.Output(), 3000))
		}
		run.Alive(t)
		time.Sleep(300 * time.Millisecond)
	}
	// The bounced address is suppressed.
	var show struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(e.must(t, "alumni", "show", bounced.to, "--json").Stdout), &show); err != nil || show.Status != "bounced" {
		t.Errorf("alumni show %s: status %q (%v), want bounced", bounced.to, show.Status, err)
	}

	// The reply reaches HR's reply_to with Reply-To set to the alumnus; the
	// out-of-office notice is never forwarded.
	var forwards []smtptest.Message
	for deadline := time.Now().Add(15 * time.Second); ; {
		forwards = forwards[:0]
		for _, m := range e.relay.Messages()[len(msgs):] {
			forwards = append(forwards, m)
		}
		if len(forwards) >= 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // a second forward (of the automatic reply) would have come by now
	forwards = e.relay.Messages()[len(msgs):]
	if len(forwards) != 1 {
		t.Fatalf("relay got %d forwards, want exactly 1 (the human reply)", len(forwards))
	}
	f := parseMessage(t, forwards[0])
	if f.to != "alumni@example.co.jp" || !strings.Contains(f.header.Get("Reply-To"), replier.to) ||
		f.header.Get("In-Reply-To") != "<r1@mail.example.jp>" || !strings.Contains(f.header.Get("References"), msgID(replier)) ||
		!strings.Contains(f.text+f.html, "ぜひ参加したいです") {
		t.Errorf("forward: to %s, Reply-To %q, In-Reply-To %q, References %q, text %q", f.to, f.header.Get("Reply-To"),
			f.header.Get("In-Reply-To"), f.header.Get("References"), testbin.Tail(f.text, 400))
	}
	if got := f.header.Get("Auto-Submitted"); got != "auto-forwarded" {
		t.Errorf("forward Auto-Submitted %q, want auto-forwarded (RFC 3834 §5)", got)
	}
	if code, _ := run.Terminate(t, 30*time.Second); code != 0 {
		t.Errorf("kizuna run exited %d after SIGTERM", code)
	}
}

// deliver hands one message to Kizuna's inbound SMTP listener.
func deliver(t *testing.T, addr, from, to, data string) {
	t.Helper()
	if err := smtp.SendMail(addr, nil, from, []string{to}, []byte(data)); err != nil {
		t.Fatalf("deliver to %s at %s: %v", to, addr, err)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
