package inbound

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"

	"github.com/kizuna-alumni/kizuna/internal/inbound/classify"
)

// The original message rides in its forward in a form HR's client and any
// RFC 2046 parser (net/mail + mime/multipart here, as Python's email
// package) reads as a message: message/rfc822 in 7bit or 8bit — never
// base64, which RFC 2046 §5.2.1 forbids for it — with the original's
// header; an original that is not legal mail text (a 2,000-octet line)
// goes whole as application/octet-stream "original.eml", base64, byte for
// byte.
func TestForwardAttachesTheOriginalAsAMessage(t *testing.T) {
	t.Parallel()
	f := newRelayFix(t)
	d := f.send(t, newsletter("news"), "o1")
	ours := f.msgID(d[0])
	ascii := "From: John <john@example.com>\r\nTo: reply@in.example.co.jp\r\nSubject: Re: Alumni news\r\n" +
		"Message-ID: <ascii-1@example.com>\r\nIn-Reply-To: <" + ours + ">\r\n" +
		"Date: Mon, 01 Dec 2025 10:00:00 +0900\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n" +
		"See you in Osaka.\r\n"
	long := strings.Replace(ascii, "ascii-1@", "long-1@", 1) + strings.Repeat("x", 2000) + "\r\n"
	cases := []struct {
		name, raw, messageID, cte string
		rfc822                    bool
	}{
		{"utf-8 body", fmt.Sprintf(replyRaw, "x", ours, ours), "<CAF-hanako-1@mail.example.jp>", "8bit", true},
		{"ascii", ascii, "<ascii-1@example.com>", "7bit", true},
		{"line over 998 octets", long, "<long-1@example.com>", "base64", false},
	}
	for i, c := range cases {
		m := f.store(t, c.raw, testInbound)
		o := f.process(t, m, classify.Result{Class: classify.HumanReply, From: "hanako@example.jp", InReplyTo: ours})
		if !did(o, DidForwardQueued) {
			t.Fatalf("%s: outcome %+v", c.name, o)
		}
		if _, err := f.fw.Pass(t.Context()); err != nil {
			t.Fatal(err)
		}
		msgs := f.smtp.Messages()
		if len(msgs) != i+1 {
			t.Fatalf("%s: relay has %d messages, want %d", c.name, len(msgs), i+1)
		}
		fwd, err := mail.ReadMessage(bytes.NewReader(msgs[i].Data))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		mt, params, err := mime.ParseMediaType(fwd.Header.Get("Content-Type"))
		if err != nil || mt != "multipart/mixed" {
			t.Fatalf("%s: forward is %q (%v)", c.name, mt, err)
		}
		if top := fwd.Header.Get("Content-Transfer-Encoding"); (c.cte == "8bit") != (top == "8bit") {
			t.Errorf("%s: the forward's Content-Transfer-Encoding is %q", c.name, top)
		}
		mr := multipart.NewReader(fwd.Body, params["boundary"])
		var att *multipart.Part
		var body []byte
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if p.FileName() == "original.eml" {
				att = p
				body, _ = io.ReadAll(p)
				break
			}
		}
		if att == nil {
			t.Fatalf("%s: no original.eml attached", c.name)
		}
		at, _, _ := mime.ParseMediaType(att.Header.Get("Content-Type"))
		cte := strings.ToLower(att.Header.Get("Content-Transfer-Encoding"))
		if cte != c.cte {
			t.Errorf("%s: the original is attached %s, want %s", c.name, cte, c.cte)
		}
		if !c.rfc822 {
			if at != "application/octet-stream" {
				t.Errorf("%s: attached as %s", c.name, at)
			}
			dec, err := base64.StdEncoding.DecodeString(string(bytes.ReplaceAll(body, []byte("\r\n"), nil)))
			if err != nil || string(dec) != c.raw {
				t.Errorf("%s: the attachment is not the original byte for byte (%v)", c.name, err)
			}
			continue
		}
		if at != "message/rfc822" {
			t.Errorf("%s: attached as %s, want message/rfc822", c.name, at)
		}
		orig, err := mail.ReadMessage(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("%s: the attached original does not parse as a message: %v", c.name, err)
		}
		if got := orig.Header.Get("Message-Id"); got != c.messageID {
			t.Errorf("%s: attached Message-ID %q, want %q", c.name, got, c.messageID)
		}
		want, _ := mail.ReadMessage(strings.NewReader(c.raw))
		for _, k := range []string{"From", "Subject", "Date", "In-Reply-To"} {
			if orig.Header.Get(k) != want.Header.Get(k) {
				t.Errorf("%s: attached %s %q, want %q", c.name, k, orig.Header.Get(k), want.Header.Get(k))
			}
		}
		if ob, _ := io.ReadAll(orig.Body); len(ob) == 0 {
			t.Errorf("%s: the attached original has no body", c.name)
		}
		if strings.Contains(c.raw, "交流会") {
			if ob := string(body); !strings.Contains(ob, "交流会に参加したいです") {
				t.Errorf("%s: the 8-bit body did not pass unchanged", c.name)
			}
		}
	}
}
