package mailer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

// Outcome is what the delivery engine does with the result of one Send.
type Outcome int

// The outcomes of a Send.
const (
	// OK: the relay accepted the message.
	OK Outcome = iota
	// Temporary: retry later with backoff (4xx, network errors, dropped
	// connections, timeouts).
	Temporary
	// Permanent: fail this delivery (a 5xx about this recipient or message).
	Permanent
	// HardBounce: fail the delivery and suppress the address as bounced
	// (5.1.1 no such mailbox, 5.1.2 no such host, 5.1.6 moved, 5.1.10 null MX).
	HardBounce
	// SenderRejected: the relay refused the sender or the session for
	// good (a 5xx to the login, the sender address or the sender's domain,
	// an untrusted TLS certificate). It is never the recipient's fault and
	// waiting does not fix it: pause the run and alert.
	SenderRejected
	// RelayUnavailable: the relay could not be reached or talked to, or
	// it refuses every message for now (connection refused or timed out,
	// a 4xx or 421 at the greeting, EHLO, STARTTLS or AUTH, a 421 closing
	// the session, a 4xx rate-limit or quota reply). It is never the
	// recipient's fault: the attempt does not count, and the run waits
	// with backoff until the relay answers again.
	RelayUnavailable
)

// String names the outcome for logs and delivery records.
func (o Outcome) String() string {
	switch o {
	case OK:
		return "ok"
	case Temporary:
		return "temporary"
	case Permanent:
		return "permanent"
	case HardBounce:
		return "hard_bounce"
	case SenderRejected:
		return "sender_rejected"
	case RelayUnavailable:
		return "relay_unavailable"
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// Stage is the step of an SMTP session a reply or error came from. The same
// code means different things at different stages: 550 5.7.1 at MAIL
// rejects the sender, at RCPT it is usually the recipient's own policy.
type Stage string

// The stages of a Send.
const (
	StageConnect  Stage = "CONNECT"  // dial, greeting, EHLO, implicit TLS
	StageStartTLS Stage = "STARTTLS" // upgrading a plain connection
	StageAuth     Stage = "AUTH"
	StageMail     Stage = "MAIL"
	StageRcpt     Stage = "RCPT"
	StageData     Stage = "DATA" // the DATA command, the bytes and the final reply
	StageEnvelope Stage = "ENVELOPE"
	StageFile     Stage = "FILE" // file:// relays: writing the .eml
)

// SendError is the error of a failed Send: the SMTP reply (when there was
// one) and what to do about it. Its text never contains credentials.
type SendError struct {
	Stage    Stage
	Code     int    // SMTP reply code, 0 without a reply (network error)
	Enhanced string // RFC 3463 enhanced status code such as "5.1.1", or ""
	Text     string // reply text without code and enhanced code
	Outcome  Outcome
	Err      error // the underlying error
}

// Error reads like "smtp RCPT: 550 5.1.1 no such user (hard_bounce)".
func (e *SendError) Error() string {
	var b strings.Builder
	b.WriteString("smtp ")
	b.WriteString(string(e.Stage))
	b.WriteString(": ")
	switch {
	case e.Code != 0:
		b.WriteString(strconv.Itoa(e.Code))
		if e.Enhanced != "" {
			b.WriteString(" " + e.Enhanced)
		}
		if e.Text != "" {
			b.WriteString(" " + e.Text)
		}
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	default:
		b.WriteString(e.Text)
	}
	b.WriteString(" (" + e.Outcome.String() + ")")
	return b.String()
}

// Unwrap returns the underlying error.
func (e *SendError) Unwrap() error { return e.Err }

// Reply is the SMTP reply as recorded with a delivery: "550 5.1.1 text".
func (e *SendError) Reply() string {
	if e.Code == 0 {
		return ""
	}
	return strings.TrimSpace(fmt.Sprintf("%d %s %s", e.Code, e.Enhanced, e.Text))
}

// Classify says what to do with the error of a Send: OK for nil, the
// Outcome of a *SendError, Temporary for anything else (an unknown failure
// is retried, never blamed on the recipient).
func Classify(err error) Outcome {
	if err == nil {
		return OK
	}
	var se *SendError
	if errors.As(err, &se) {
		return se.Outcome
	}
	return Temporary
}

// senderCodes are enhanced codes that reject the sending domain or account
// whatever the stage (RFC 3463, RFC 7372, provider documentation quoted in
// research/domain.md §1): every other recipient would get the same answer.
var senderCodes = map[string]bool{
	"5.1.7": true, "5.1.8": true, // bad sender mailbox / sender's system address
	"5.7.8":  true,                                 // authentication credentials invalid (RFC 4954)
	"5.7.9":  true,                                 // authentication mechanism too weak
	"5.7.20": true, "5.7.21": true, "5.7.22": true, // no passing / acceptable / author-matched DKIM (RFC 7372)
	"5.7.23": true, "5.7.24": true, "5.7.25": true, // SPF failed, SPF error, reverse DNS failed (RFC 7372)
	"5.7.26":  true, // multiple authentication checks failed: Gmail's DMARC rejection
	"5.7.27":  true, // sender address has null MX (RFC 7505)
	"5.7.30":  true, // Gmail: unauthenticated sender
	"5.7.515": true, // Outlook.com: sending domain below the required authentication level
}

// relayWideCodes are 4xx enhanced codes by which a provider defers every
// message of the sender for a while (Gmail's "4.7.26/4.7.27/4.7.30
// unauthenticated" and "4.7.28 rate limited, stop for 10 minutes"): the
// run waits, no recipient is charged an attempt.
var relayWideCodes = map[string]bool{"4.7.26": true, "4.7.27": true, "4.7.28": true, "4.7.30": true}

// hardBounceCodes mean the address does not exist (research/domain.md §4,
// sisimai IsHardBounce: userunknown, hostunknown, hasmoved).
var hardBounceCodes = map[string]bool{"5.1.1": true, "5.1.2": true, "5.1.6": true, "5.1.10": true}

// quotaText recognises relay quota and rate-limit replies whose codes vary
// by provider ("452 4.5.3 daily sending quota exceeded", "550 5.4.5 Daily
// user sending limit exceeded", "421 4.7.0 rate limit exceeded", "454
// Throttling failure: Maximum sending rate exceeded").
var quotaText = regexp.MustCompile(`(?i)quota|rate[ -]?limit|sending (rate|limit)|daily (user )?sending|limit exceeded|too many messages (sent|in)|throttl`)

// mailboxFullText recognises a recipient's full mailbox, which mentions a
// quota too ("552 5.2.2 user is over quota").
var mailboxFullText = regexp.MustCompile(`(?i)mailbox (is )?full|over quota|mailbox.{0,40}quota|quota.{0,40}mailbox|insufficient (system )?storage`)

// mailboxFull reports whether a reply is about the recipient's mailbox
// storage (RFC 3463 X.2.2 or the wording).
func mailboxFull(enhanced, text string) bool {
	return strings.HasSuffix(enhanced, ".2.2") || mailboxFullText.MatchString(text)
}

// relayDeniedText recognises a relay that refuses to relay for us because we
// are not authenticated or not allowed (Postfix "554 5.7.1 Relay access
// denied", Exchange "550 5.7.54 Unable to relay"): a session problem.
var relayDeniedText = regexp.MustCompile(`(?i)relay(ing)? (access )?(denied|not permitted|prohibited)|unable to relay|authentication required|must (first )?authenticate|not authenticated`)

// classifyReply decides the outcome of an SMTP error reply.
//
//	stage            reply                                   outcome
//	any              421 (RFC 5321 §3.8: the relay closes     RelayUnavailable
//	                 the session), whatever its text
//	CONNECT/TLS/AUTH other 4xx (greeting, EHLO, 454 4.7.0)   RelayUnavailable
//	any              4xx quota / rate-limit text, or a       RelayUnavailable
//	                 relay-wide 4.7.x code (Gmail 4.7.28)
//	any              X.2.2 or mailbox-full text              Temporary (4xx) / Permanent (5xx)
//	MAIL/RCPT/DATA   other 4xx (450, 451, 452 4.5.3)         Temporary
//	any              5xx enhanced code in senderCodes        SenderRejected
//	any              530, or relay-denied text               SenderRejected
//	any              5xx quota / rate-limit text (the        RelayUnavailable
//	                 relay's own daily quota)
//	CONNECT/TLS      5xx                                     SenderRejected
//	AUTH             5xx (535 5.7.8, 534, 530 5.7.0, ...)    SenderRejected
//	MAIL             5xx (550 5.7.1, 553 5.1.8, ...)         SenderRejected
//	RCPT, DATA       5.1.1, 5.1.2, 5.1.6, 5.1.10             HardBounce
//	RCPT, DATA       other 5xx (5.7.1 recipient policy,      Permanent
//	                 5.2.2 mailbox full, 552, 554, docomo's
//	                 DATA-stage "550 Unknown user" filter)
//
// A 4xx never pauses a run (RFC 5321 §4.2.1: "the error condition is
// temporary"): it either waits for the relay (RelayUnavailable, no attempt
// used) or retries the delivery (Temporary). DATA-stage 5.1.1 is a hard
// bounce because each transaction carries a single recipient; a
// DATA-stage rejection without an enhanced code stays Permanent, not a
// bounce (sisimai classifies docomo's "550 Unknown user" domain filter as
// "filtered", research/domain.md §3).
func classifyReply(stage Stage, code int, enhanced, text string) Outcome {
	if code >= 400 && code < 500 {
		switch {
		case code == 421:
			return RelayUnavailable
		case stage == StageConnect || stage == StageStartTLS || stage == StageAuth:
			return RelayUnavailable
		case mailboxFull(enhanced, text):
			// "quota" here is the recipient's mailbox, not the relay's.
			return Temporary
		case relayWideCodes[enhanced] || quotaText.MatchString(text):
			return RelayUnavailable
		}
		return Temporary
	}
	if code >= 500 && !mailboxFull(enhanced, text) && quotaText.MatchString(text) {
		// The relay's own sending quota ("550 5.4.5 Daily user sending
		// quota exceeded"): it lifts by itself, so the run waits for it.
		return RelayUnavailable
	}
	switch {
	case code < 400:
		// A reply outside 4xx/5xx where an error was expected (a protocol
		// mix-up): retrying on a fresh connection is the safe answer.
		return Temporary
	case senderCodes[enhanced]:
		return SenderRejected
	case code == 530 || relayDeniedText.MatchString(text):
		return SenderRejected
	case mailboxFull(enhanced, text):
		return Permanent
	}
	switch stage {
	case StageConnect, StageStartTLS, StageAuth, StageMail:
		return SenderRejected
	}
	if hardBounceCodes[enhanced] {
		return HardBounce
	}
	return Permanent
}

// enhancedRe matches an RFC 3463 enhanced status code at the start of the
// reply text.
var enhancedRe = regexp.MustCompile(`^([245])\.(\d{1,3})\.(\d{1,3})(\s+|$)`)

// replyError builds the SendError of an SMTP error reply. Multi-line replies
// repeat the enhanced code on each line; it is stripped from every line.
func replyError(stage Stage, code int, msg string, err error) *SendError {
	var enhanced string
	lines := strings.Split(msg, "\n")
	for i, l := range lines {
		if m := enhancedRe.FindStringSubmatch(l); m != nil {
			if enhanced == "" {
				enhanced = m[1] + "." + m[2] + "." + m[3]
			}
			lines[i] = l[len(m[0]):]
		}
	}
	text := strings.TrimSpace(strings.Join(lines, " "))
	return &SendError{
		Stage: stage, Code: code, Enhanced: enhanced, Text: text,
		Outcome: classifyReply(stage, code, enhanced, text), Err: err,
	}
}

// sendError turns any error of a stage into a *SendError: SMTP replies are
// parsed and classified; everything else (network, timeouts, a closed
// connection) is RelayUnavailable while the session is being set up and
// Temporary once a transaction is under way.
func sendError(stage Stage, err error) *SendError {
	var se *SendError
	if errors.As(err, &se) {
		return se
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return replyError(stage, te.Code, te.Msg, err)
	}
	return &SendError{Stage: stage, Outcome: noReplyOutcome(stage), Err: err}
}

// noReplyOutcome is the outcome of a failure without an SMTP reply: the
// relay is unreachable when the session cannot even be set up.
func noReplyOutcome(stage Stage) Outcome {
	switch stage {
	case StageConnect, StageStartTLS, StageAuth:
		return RelayUnavailable
	}
	return Temporary
}

// isConnError reports whether err leaves the connection unusable: no reply
// at all (network error, timeout, EOF) or a 421 "closing channel" reply.
func isConnError(err error) bool {
	var se *SendError
	if errors.As(err, &se) && se.Code == 421 {
		return true
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code == 421
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || se != nil && se.Code == 0
}
