package mailer

import "testing"

func TestReplyPattern(t *testing.T) {
	t.Parallel()
	same := [][2]string{
		{"smtp DATA: 554 5.7.1 <a@x.jp>: rejected, queue 4F1C2A (permanent)", "smtp DATA: 554 5.7.1 <b@y.com>: rejected, queue 99AB01 (permanent)"},
		// A returned message's reply (internal/inbound): Gmail's queue ids differ.
		{"550 5.7.26 Unauthenticated email from example.co.jp is not accepted due to domain's DMARC policy. 41be03b00d2f7-b2f5f6c1a2bsi1234567a12.345 - gsmtp",
			"550 5.7.26 Unauthenticated email from example.co.jp is not accepted due to domain's DMARC policy. 98ac11f00e3a1-c7d2e8si7654321b98.12 - gsmtp"},
	}
	for _, p := range same {
		if ReplyPattern(p[0]) != ReplyPattern(p[1]) {
			t.Errorf("%q and %q differ: %q %q", p[0], p[1], ReplyPattern(p[0]), ReplyPattern(p[1]))
		}
	}
	differ := [][2]string{
		{"smtp RCPT: 550 5.1.1 no such user (permanent)", "smtp RCPT: 550 5.7.1 no such user (permanent)"},
		{"smtp RCPT: 550 5.7.1 policy (permanent)", "smtp DATA: 550 5.7.1 policy (permanent)"},
		{"smtp DATA: 554 rejected (permanent)", "smtp DATA: 552 rejected (permanent)"},
		{"550 5.7.26 Unauthenticated email", "550 5.7.25 Unauthenticated email"},
	}
	for _, p := range differ {
		if ReplyPattern(p[0]) == ReplyPattern(p[1]) {
			t.Errorf("%q and %q share a pattern", p[0], p[1])
		}
	}
}
