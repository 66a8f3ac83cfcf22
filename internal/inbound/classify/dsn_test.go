package classify

import (
	"strings"
	"testing"

	"github.com/emersion/go-message"
)

// TestReasonOf checks the RFC 3463 table and the wording fallbacks: which
// failures are the address's own (hard) and which never are.
func TestReasonOf(t *testing.T) {
	for _, c := range []struct {
		status, diag string
		temporary    bool
		reason       string
		hard         bool
	}{
		{"5.1.1", "550 5.1.1 <a@example.jp>... User Unknown", false, reasonUserUnknown, true},
		{"5.1.0", "550 5.1.0 Address rejected", false, reasonUserUnknown, true},
		{"5.1.10", "550 5.1.10 RESOLVER.ADR.RecipientNotFound", false, reasonUserUnknown, true},
		{"5.1.6", "551 5.1.6 User has moved", false, reasonUserUnknown, true},
		{"5.1.2", "550 Host unknown", false, reasonHostUnknown, true},
		{"5.4.4", "Host or domain name not found. Name service error for name=x.example type=A: Host not found", false, reasonHostUnknown, true},
		{"5.2.2", "552 5.2.2 Mailbox full", false, reasonMailboxFull, false},
		{"5.1.1", "552 5.1.1 user is over quota", false, reasonMailboxFull, false},
		{"5.0.0", "5.1.0 - Unknown address error 550-'5.2.2 <a@example.jp>... Mailbox Full'", false, reasonMailboxFull, false},
		{"5.2.1", "550 5.2.1 The email account that you tried to reach is disabled", false, reasonFiltered, false},
		{"5.2.0", "550 Unknown user a@docomo.ne.jp", false, reasonFiltered, false},
		{"5.7.1", "550 5.7.1 Message rejected as spam", false, reasonSpam, false},
		{"5.7.1", "554 5.7.1 Client host [192.0.2.1] blocked using zen.spamhaus.org", false, reasonBlocked, false},
		{"5.7.1", "550 5.7.1 Delivery not authorized, message refused", false, reasonPolicy, false},
		{"5.7.26", "550-5.7.26 Unauthenticated email is not accepted due to domain's DMARC policy", false, reasonAuth, false},
		{"5.7.8", "535 5.7.8 Authentication credentials invalid", false, reasonAuth, false},
		{"5.7.515", "550 5.7.515 Access denied, sending domain does not meet the required authentication level", false, reasonAuth, false},
		{"5.7.606", "550 5.7.606 Access denied, banned sending IP", false, reasonBlocked, false},
		{"5.1.8", "553 5.1.8 Sender address rejected: Domain not found", false, reasonRejected, false},
		{"5.1.7", "550 5.1.7 Invalid address", false, reasonRejected, false},
		{"5.1.0", "550 5.1.0 Sender denied", false, reasonRejected, false},
		{"4.4.7", "Message expired", false, reasonExpired, false},
		{"5.4.7", "delivery time expired", false, reasonExpired, false},
		{"", "retry timeout exceeded", false, reasonExpired, false},
		{"4.4.1", "connect to mx.example.net[192.0.2.1]:25: Connection timed out", false, reasonNetwork, false},
		{"4.4.1", "connect to mx.example.net[192.0.2.1]:25: Connection timed out", true, reasonNetwork, false},
		{"4.1.1", "450 4.1.1 user unknown (greylisted)", false, reasonUserUnknown, false},
		{"5.1.1", "550 5.1.1 user unknown", true, reasonUserUnknown, false},
		{"", "550 Unknown user kijitora@example.ne.jp. (#5.5.0)", false, reasonUserUnknown, true},
		{"5.5.0", "550 Unknown user kijitora@example.ne.jp. (#5.5.0)", false, reasonUserUnknown, true},
		{"", "554 delivery error: dd This user doesn't have a yahoo.com account", false, reasonUserUnknown, true},
		{"", "送信先のメールボックスが一杯のため、送信できませんでした。", false, reasonMailboxFull, false},
		{"", "宛先のアドレスは存在しません。", false, reasonUserUnknown, true},
		{"", "The user(s) account is disabled.", false, reasonUserUnknown, true},
		{"5.2.3", "550 5.2.3 RESOLVER.RST.RecipSizeLimit; message too large for this recipient", false, reasonOther, false},
		{"", "", false, reasonOther, false},
	} {
		reason, hard := reasonOf(c.status, c.diag, c.temporary)
		if reason != c.reason || hard != c.hard {
			t.Errorf("reasonOf(%q, %q, %v) = %s hard=%v, want %s hard=%v", c.status, c.diag, c.temporary, reason, hard, c.reason, c.hard)
		}
	}
}

// TestParseDeliveryStatus reads the shapes of message/delivery-status
// bodies met in the wild.
func TestParseDeliveryStatus(t *testing.T) {
	for _, c := range []struct {
		name, body string
		want       []Recipient
	}{
		{"rfc3464 two blocks, folded diagnostic, rfc822 prefixes",
			"Reporting-MTA: dns; mx.example.jp\r\n\r\n" +
				"Original-Recipient: rfc822;A@Example.JP\r\nFinal-Recipient: RFC822; <a@example.jp>\r\nAction: failed\r\nStatus: 5.1.1\r\n" +
				"Diagnostic-Code: smtp; 550 5.1.1 <a@example.jp>:\r\n    Recipient address rejected: User unknown\r\n\r\n" +
				"Final-Recipient: rfc822;b@example.jp\r\nAction: delayed\r\nStatus: 4.2.2\r\nDiagnostic-Code: smtp;452 4.2.2 over quota\r\n",
			[]Recipient{
				{Address: "a@example.jp", Action: "failed", Status: "5.1.1", ReplyCode: "550", Reason: reasonUserUnknown, Hard: true,
					Diagnostic: "550 5.1.1 <a@example.jp>: Recipient address rejected: User unknown"},
				{Address: "b@example.jp", Action: "delayed", Status: "4.2.2", ReplyCode: "452", Reason: reasonMailboxFull, Diagnostic: "452 4.2.2 over quota"},
			}},
		{"recipients run together without blank lines",
			"Reporting-MTA: dns; mx.example.jp\nFinal-Recipient: rfc822; a@example.jp\nAction: failed\nStatus: 5.1.2\n" +
				"Final-Recipient: rfc822; b@example.jp\nAction: failed\nStatus: 5.7.1\nDiagnostic-Code: smtp; 550 5.7.1 spam\n",
			[]Recipient{
				{Address: "a@example.jp", Action: "failed", Status: "5.1.2", Reason: reasonHostUnknown, Hard: true},
				{Address: "b@example.jp", Action: "failed", Status: "5.7.1", ReplyCode: "550", Reason: reasonSpam, Diagnostic: "550 5.7.1 spam"},
			}},
		{"no Action: the status class decides",
			"Final-Recipient: rfc822; a@example.jp\nStatus: 4.4.7 (persistent transient failure)\n",
			[]Recipient{{Address: "a@example.jp", Action: "delayed", Status: "4.4.7", Reason: reasonExpired}}},
		{"a local Final-Recipient falls back to Original-Recipient",
			"Original-Recipient: rfc822; a@example.jp\nFinal-Recipient: LOCAL; kijitora\nAction: failed\nStatus: 5.1.1\n",
			[]Recipient{{Address: "a@example.jp", Action: "failed", Status: "5.1.1", Reason: reasonUserUnknown, Hard: true}}},
		{"no status: the diagnostic's code",
			"Final-Recipient: rfc822; a@example.jp\nAction: failed\nDiagnostic-Code: smtp; 550 5.1.1 no such user\n",
			[]Recipient{{Address: "a@example.jp", Action: "failed", Status: "5.1.1", ReplyCode: "550", Reason: reasonUserUnknown, Hard: true, Diagnostic: "550 5.1.1 no such user"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := parseDeliveryStatus([]byte(c.body), "")
			if len(got) != len(c.want) {
				t.Fatalf("%d recipients %+v, want %d", len(got), got, len(c.want))
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Errorf("recipient %d\n got %+v\nwant %+v", i, got[i], c.want[i])
				}
			}
		})
	}
}

// TestParseReportKinds: a success notice is not a bounce, a delayed-only
// report is Delayed, and a report of another type is left alone.
func TestParseReportKinds(t *testing.T) {
	report := func(reportType, status string) []byte {
		return []byte("From: MAILER-DAEMON@mx.example.jp\r\nContent-Type: multipart/report; report-type=" + reportType + "; boundary=b\r\n\r\n" +
			"--b\r\nContent-Type: text/plain\r\n\r\nnotice\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.jp\r\n\r\n" +
			status + "\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <d7.1.abc@example.co.jp>\r\nTo: a@example.jp\r\n\r\n--b--\r\n")
	}
	for _, c := range []struct {
		name, reportType, status string
		ok                       bool
		class                    Class
	}{
		{"delivered only", "delivery-status", "Final-Recipient: rfc822; a@example.jp\r\nAction: delivered\r\nStatus: 2.0.0\r\n", false, ""},
		{"delayed only", "delivery-status", "Final-Recipient: rfc822; a@example.jp\r\nAction: delayed\r\nStatus: 4.4.1\r\n", true, Delayed},
		{"failed", "delivery-status", "Final-Recipient: rfc822; a@example.jp\r\nAction: failed\r\nStatus: 5.1.1\r\n", true, Bounce},
		{"feedback report", "feedback-report", "Final-Recipient: rfc822; a@example.jp\r\nAction: failed\r\nStatus: 5.1.1\r\n", false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, ok := parseReport(readEntity(t, report(c.reportType, c.status)))
			if ok != c.ok || res.Class != c.class {
				t.Fatalf("ok=%v class=%q, want ok=%v class=%q", ok, res.Class, c.ok, c.class)
			}
			if ok && (res.OriginalMessageID != "d7.1.abc@example.co.jp" || len(res.OriginalTo) != 1 || res.OriginalTo[0] != "a@example.jp") {
				t.Errorf("original %q to %v", res.OriginalMessageID, res.OriginalTo)
			}
		})
	}
}

// TestParseBounceNotNotices: mail that mentions delivery failure but is not
// a mail system's notice stays out of the bounce class.
func TestParseBounceNotNotices(t *testing.T) {
	for _, c := range []struct{ name, raw string }{
		{"a person forwarding a bounce",
			"From: Hanako <hanako@example.jp>\r\nSubject: Fwd: Undelivered Mail Returned to Sender\r\n\r\nFYI, this came back:\r\n\r\n" +
				"This is the mail system at host mx.example.jp.\r\n<taro@example.jp>: host said: 550 5.1.1 User unknown\r\n"},
		{"a reply talking about an undelivered invoice",
			"From: Taro <taro@example.jp>\r\nSubject: Re: invoice\r\n\r\nOur invoice could not be delivered last week, can you resend it to billing@example.jp?\r\n"},
		{"a newsletter",
			"From: news@example.com\r\nSubject: Weekly digest\r\n\r\nTop stories this week. Unsubscribe at any time.\r\n"},
		{"an out-of-office reply",
			"From: Jiro <jiro@example.jp>\r\nSubject: Automatic reply: Alumni newsletter\r\nAuto-Submitted: auto-replied\r\n\r\nI am out of the office until Monday.\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if res, ok := parseNotice(t, []byte(c.raw)); ok {
				t.Fatalf("recognised as %q with %+v", res.Class, res.Recipients)
			}
		})
	}
}

// TestParseBounceConsumedEntity: when the caller has already read the
// entity, the text it passes is enough.
func TestParseBounceConsumedEntity(t *testing.T) {
	raw := "From: MAILER-DAEMON@mx4.example.jp\r\nSubject: failure notice\r\n\r\n" +
		"Hi. This is the qmail-send program at mx4.example.jp.\r\nI'm afraid I wasn't able to deliver your message to the following addresses.\r\n" +
		"This is a permanent error; I've given up. Sorry it didn't work out.\r\n\r\n<a@example.ne.jp>:\r\n192.0.2.1 does not like recipient.\r\n" +
		"Remote host said: 550 5.1.1 <a@example.ne.jp>... User Unknown\r\nGiving up on 192.0.2.1.\r\n\r\n--- Below this line is a copy of the message.\r\n\r\n" +
		"Message-ID: <d9.2.xyz@example.co.jp>\r\nTo: a@example.ne.jp\r\n\r\nHello\r\n"
	text := plainText([]byte(raw))
	e := readEntity(t, []byte(raw))
	if _, err := e.Body.Read(make([]byte, 1<<16)); err != nil {
		t.Fatal(err)
	}
	res, ok := parseBounce(&e.Header, e, text)
	if !ok || res.Class != Bounce || res.OriginalMessageID != "d9.2.xyz@example.co.jp" {
		t.Fatalf("ok=%v %+v", ok, res)
	}
	if len(res.Recipients) != 1 || res.Recipients[0].Address != "a@example.ne.jp" || !res.Recipients[0].Hard || res.Recipients[0].ReplyCode != "550" {
		t.Fatalf("recipients %+v", res.Recipients)
	}
	// With no entity at all, the header and the text still decide.
	h := message.Header{}
	h.Set("From", "MAILER-DAEMON@mx4.example.jp")
	h.Set("Subject", "failure notice")
	if res, ok := parseBounce(&h, nil, text); !ok || len(res.Recipients) != 1 {
		t.Fatalf("nil entity: ok=%v %+v", ok, res)
	}
}

// TestParseBounceNoAddress: a notice whose failed address cannot be read is
// still a bounce (never forwarded as a reply), with no recipients.
func TestParseBounceNoAddress(t *testing.T) {
	raw := "From: Mail Delivery System <MAILER-DAEMON@mx.example.jp>\r\nSubject: Undelivered Mail Returned to Sender\r\n\r\n" +
		"This is the mail system at host mx.example.jp.\r\n\r\nI'm sorry to have to inform you that your message could not\r\nbe delivered to one or more recipients.\r\n"
	res, ok := parseNotice(t, []byte(raw))
	if !ok || res.Class != Bounce || res.Recipients == nil || len(res.Recipients) != 0 || !res.Automatic {
		t.Fatalf("ok=%v %+v", ok, res)
	}
}

// TestClip keeps diagnostics within 500 bytes of valid UTF-8.
func TestClip(t *testing.T) {
	s := clip(strings.Repeat("宛先不明 ", 200), maxDiagnostic)
	if len(s) > maxDiagnostic || !strings.HasPrefix(s, "宛先不明 宛先不明") || strings.ContainsRune(s, '\uFFFD') {
		t.Fatalf("clip gave %d bytes: %q", len(s), s[len(s)-10:])
	}
	if got := clip("  550  5.1.1\r\n\tuser   unknown ", 100); got != "550 5.1.1 user unknown" {
		t.Fatalf("clip = %q", got)
	}
}
