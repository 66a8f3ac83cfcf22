// Package classify reads one inbound message — a reply, an automatic
// reply, a bounce, a calendar answer, a request to stop, a complaint — and
// says what it is, without acting on it. It does no I/O: the intake stores
// the raw message first, then classifies it (and can classify stored mail
// again after a fix).
package classify

import "time"

// Class is what an inbound message is (SPEC.md, `kizuna inbound classify --json`).
type Class string

// Classes of inbound mail.
const (
	Bounce             Class = "bounce"              // a delivery status notification with a failed recipient (RFC 3464, or a known non-standard shape)
	Delayed            Class = "delayed"             // a notification whose recipients are all only delayed: changes nothing
	AutoReply          Class = "auto_reply"          // an automatic reply (RFC 3834, out-of-office): counted apart, never answered
	HumanReply         Class = "human_reply"         // everything else: stored and forwarded to HR
	CalendarReply      Class = "calendar_reply"      // an iMIP METHOD:REPLY (RFC 6047) answering an invitation
	UnsubscribeRequest Class = "unsubscribe_request" // a request to stop: mail to the List-Unsubscribe mailto, or a subject asking to stop
	FeedbackReport     Class = "feedback_report"     // an abuse/complaint report (ARF, RFC 5965)
)

// Recipient is one recipient a bounce or delay notice reports on (RFC 3464
// §2.3 per-recipient fields, or what a non-standard notice says).
type Recipient struct {
	Address    string `json:"address"`    // the recipient (Final-Recipient, else Original-Recipient, else the text)
	Action     string `json:"action"`     // failed | delayed | delivered
	Status     string `json:"status"`     // enhanced status code (RFC 3463), e.g. "5.1.1"; "" when unknown
	ReplyCode  string `json:"reply_code"` // SMTP reply code, e.g. "550"; "" when unknown
	Reason     string `json:"reason"`     // user_unknown | host_unknown | mailbox_full | filtered | blocked | rejected | policy | expired | spam | auth | network | other
	Hard       bool   `json:"hard"`       // a permanent failure of the address itself: unknown user, unknown host, moved
	Diagnostic string `json:"diagnostic"` // the remote server's words, at most 500 bytes
}

// Calendar is an iMIP reply (RFC 6047 §2.4, RFC 5546 §3.2.3): who answered
// which event, and how.
type Calendar struct {
	UID      string `json:"uid"`
	Attendee string `json:"attendee"` // the ATTENDEE's address, mailto: and percent-encoding removed
	PartStat string `json:"partstat"` // ACCEPTED | DECLINED | TENTATIVE
	Sequence int    `json:"sequence"`
}

// Result is what Classify makes of one message.
type Result struct {
	Class      Class
	Recipients []Recipient // bounces and delayed notices only; empty otherwise
	MessageID  string      // this message's Message-ID, without angle brackets
	InReplyTo  string      // without angle brackets
	References []string    // without angle brackets, oldest first
	// OriginalMessageID is the Message-ID of the message a bounce or a
	// feedback report returns (from its message/rfc822 or
	// text/rfc822-headers part, or quoted in the text); "" when not found.
	OriginalMessageID string
	// OriginalTo lists the recipients of the returned message, when a
	// bounce or report shows them (its To, X-Original-To, Original-Rcpt-To).
	OriginalTo []string
	From       string    // the From address
	Subject    string    // decoded to UTF-8 (RFC 2047)
	Date       time.Time // zero when missing or unreadable
	// Text is the message's plain text in UTF-8 (the HTML part as text when
	// there is no plain part), at most 64 KiB.
	Text     string
	Calendar *Calendar // calendar replies only
	// Automatic is true for any machine-sent message (bounce, delay,
	// automatic reply, feedback report): Kizuna never answers or forwards it.
	Automatic bool
	// Addresses are the addresses in To, Cc, Delivered-To, X-Original-To
	// and Envelope-To, lower-cased, each once: a reply to reply+TOKEN@ (or
	// a bounce to reply+b.TOKEN@) names its delivery there.
	Addresses []string
}
