package mailer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"testing"
)

func TestClassifyReplyTable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		stage Stage
		msg   string // as the relay wrote it after the code
		code  int
		want  Outcome
	}{
		{StageAuth, "5.7.8 Authentication credentials invalid", 535, SenderRejected},
		{StageAuth, "5.7.0 Authentication required", 530, SenderRejected},
		{StageAuth, "4.7.0 Temporary authentication failure", 454, RelayUnavailable},
		{StageMail, "5.7.1 Sender address rejected: not owned by user", 553, SenderRejected},
		{StageMail, "5.7.515 Access denied, sending domain does not meet the required authentication level", 550, SenderRejected},
		{StageMail, "5.1.7 Invalid address", 550, SenderRejected},
		{StageMail, "4.7.0 Rate limit exceeded, try again later", 421, RelayUnavailable},
		{StageMail, "4.7.0 Too many messages in this connection", 421, RelayUnavailable},
		{StageData, "4.7.0 Too many messages in this connection", 421, RelayUnavailable},
		{StageRcpt, "4.7.0 Too many messages sent, try later", 451, RelayUnavailable},
		{StageMail, "Maximum message count per session reached", 421, RelayUnavailable},
		{StageMail, "4.3.0 Insufficient system storage", 452, Temporary},
		{StageMail, "Throttling failure: Maximum sending rate exceeded.", 454, RelayUnavailable},
		{StageRcpt, "5.1.1 <x@example.jp>: Recipient address rejected: User unknown", 550, HardBounce},
		{StageRcpt, "5.1.2 Host unknown", 550, HardBounce},
		{StageRcpt, "5.1.6 Recipient has moved", 550, HardBounce},
		{StageRcpt, "5.1.10 Recipient address has null MX", 556, HardBounce},
		{StageRcpt, "5.7.1 Message rejected by recipient policy", 550, Permanent},
		{StageRcpt, "5.7.1 <x@example.jp>: Relay access denied", 554, SenderRejected},
		{StageRcpt, "5.7.54 Unable to relay recipient in non-accepted domain", 550, SenderRejected},
		{StageRcpt, "5.2.2 The email account that you tried to reach is over quota", 552, Permanent},
		{StageRcpt, "4.2.2 Mailbox full", 452, Temporary},
		{StageRcpt, "4.5.3 Too many recipients", 452, Temporary},
		{StageRcpt, "5.4.5 Daily user sending quota exceeded.", 550, RelayUnavailable},
		{StageRcpt, "4.7.28 Our system has detected an unusual rate of unsolicited mail", 421, RelayUnavailable},
		{StageRcpt, "4.7.26 Unauthenticated email is not accepted", 450, RelayUnavailable},
		{StageData, "5.7.1 Email address is not verified", 554, Permanent},
		{StageRcpt, "5.2.1 The email account that you tried to reach is inactive", 550, Permanent},
		{StageData, "5.7.26 Unauthenticated email from example.co.jp is not accepted due to domain's DMARC policy", 550, SenderRejected},
		{StageData, "Unknown user", 550, Permanent}, // docomo's domain filter at DATA: not a hard bounce
		{StageData, "5.1.1 User unknown", 550, HardBounce},
		{StageData, "5.3.4 Message size exceeds fixed limit", 552, Permanent},
		{StageData, "5.6.0 Message content rejected", 554, Permanent},
		{StageData, "4.7.1 Greylisted, try again in 5 minutes", 451, Temporary},
		{StageConnect, "5.7.1 Client host rejected: your IP is blocklisted", 554, SenderRejected},
		{StageConnect, "4.3.2 Service not available, closing transmission channel", 421, RelayUnavailable},
		{StageConnect, "4.7.1 Too many connections from your host", 450, RelayUnavailable},
		{StageStartTLS, "4.7.0 TLS not available due to local problem", 454, RelayUnavailable},
	}
	for _, c := range cases {
		se := sendError(c.stage, &textproto.Error{Code: c.code, Msg: c.msg})
		if se.Outcome != c.want {
			t.Errorf("%s %d %q: %v, want %v", c.stage, c.code, c.msg, se.Outcome, c.want)
		}
	}
}

// TestNo4xxPausesARun checks the rule of RFC 5321 §4.2.1 for every stage,
// every 4xx code and wordings that once paused runs: a transient reply never
// becomes SenderRejected, whatever its text or enhanced code.
func TestNo4xxPausesARun(t *testing.T) {
	t.Parallel()
	texts := []string{
		"4.7.0 Too many messages in this connection",
		"4.7.0 Rate limit exceeded, try again later",
		"4.7.1 Relay access denied",
		"4.7.0 Authentication required",
		"4.7.26 Unauthenticated email",
		"4.7.8 Authentication credentials invalid",
		"4.1.8 Sender address rejected: Domain not found",
		"4.5.3 daily sending quota exceeded",
		"Throttling failure: Maximum sending rate exceeded.",
		"Service temporarily unavailable",
	}
	for _, stage := range []Stage{StageConnect, StageStartTLS, StageAuth, StageMail, StageRcpt, StageData} {
		for code := 400; code < 500; code++ {
			for _, text := range texts {
				if se := sendError(stage, &textproto.Error{Code: code, Msg: text}); se.Outcome == SenderRejected {
					t.Errorf("%s %d %q pauses the run (%v)", stage, code, text, se.Outcome)
				}
			}
		}
	}
}

func TestReplyParsing(t *testing.T) {
	t.Parallel()
	se := sendError(StageRcpt, &textproto.Error{Code: 550, Msg: "5.1.1 The email account that you tried to reach does\n5.1.1 not exist. Please try"})
	if se.Code != 550 || se.Enhanced != "5.1.1" || se.Text != "The email account that you tried to reach does not exist. Please try" {
		t.Fatalf("parsed %d %q %q", se.Code, se.Enhanced, se.Text)
	}
	if got := se.Error(); got != "smtp RCPT: 550 5.1.1 The email account that you tried to reach does not exist. Please try (hard_bounce)" {
		t.Errorf("Error() = %q", got)
	}
	se = sendError(StageData, &textproto.Error{Code: 554, Msg: "Transaction failed"})
	if se.Enhanced != "" || se.Text != "Transaction failed" || se.Reply() != "554  Transaction failed" && se.Reply() != "554 Transaction failed" {
		t.Errorf("no enhanced code: %q %q %q", se.Enhanced, se.Text, se.Reply())
	}
}

func TestClassifyErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err  error
		want Outcome
	}{
		{nil, OK},
		{errors.New("anything unknown"), Temporary},
		{fmt.Errorf("send delivery 7: %w", &SendError{Outcome: HardBounce}), HardBounce},
		{sendError(StageData, io.ErrUnexpectedEOF), Temporary},
		{sendError(StageMail, context.DeadlineExceeded), Temporary},
	}
	for _, c := range cases {
		if got := Classify(c.err); got != c.want {
			t.Errorf("Classify(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	for o, s := range map[Outcome]string{OK: "ok", Temporary: "temporary", Permanent: "permanent",
		HardBounce: "hard_bounce", SenderRejected: "sender_rejected"} {
		if o.String() != s {
			t.Errorf("%d.String() = %q", o, o.String())
		}
	}
}
