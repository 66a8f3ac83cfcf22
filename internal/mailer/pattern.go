package mailer

import (
	"regexp"
	"strings"
)

var (
	replyHeadRe = regexp.MustCompile(`^(smtp [A-Z]+: )?([245][0-9][0-9])( [245]\.[0-9]{1,3}\.[0-9]{1,3})?`)
	addressRe   = regexp.MustCompile(`<?[^\s<>@]+@[^\s<>@]+>?`)
	numberRe    = regexp.MustCompile(`[0-9A-Za-z]*[0-9][0-9A-Za-z]*`)
)

// ReplyPattern is a server's reply ("smtp DATA: 554 5.7.1 text
// (permanent)" as the worker records it, or "550 5.7.26 text" from a
// returned message) with what varies per recipient removed from its text:
// addresses, queue ids and other numbers, the rest lower-cased. The stage,
// the SMTP code (RFC 5321 §4.2) and the enhanced code (RFC 3463) at its
// head are kept as they are, so that "550 5.1.1" and "550 5.7.1" stay
// different. Two replies with one pattern are the same refusal: the
// worker's sender circuit breaker and the inbound intake's rule for
// sender-side bounces count them together.
func ReplyPattern(reply string) string {
	head := replyHeadRe.FindString(reply)
	rest := addressRe.ReplaceAllString(reply[len(head):], "<addr>")
	rest = numberRe.ReplaceAllString(rest, "#")
	return head + strings.ToLower(rest)
}
