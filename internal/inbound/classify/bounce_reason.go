package classify

import (
	"regexp"
	"strconv"
	"strings"
)

// Reasons a recipient failed (Recipient.Reason). The names follow sisimai's
// taxonomy (research/domain.md §4), folded to the few Kizuna acts on.
const (
	reasonUserUnknown = "user_unknown" // no such mailbox, or it has moved (RFC 3463 X.1.1, X.1.0, X.1.10, X.1.6)
	reasonHostUnknown = "host_unknown" // no such domain or mail host (X.1.2)
	reasonMailboxFull = "mailbox_full" // over quota (X.2.2): the address exists
	reasonFiltered    = "filtered"     // the mailbox exists but refused this sender (X.2.0, X.2.1, carrier filters)
	reasonBlocked     = "blocked"      // the sending host or IP is blocked or listed
	reasonRejected    = "rejected"     // the sender address was refused (X.1.7, X.1.8) or a plain rejection
	reasonPolicy      = "policy"       // a local policy refused the message (X.7.1 without spam or block wording)
	reasonExpired     = "expired"      // the queue gave up (X.4.7, "retry timeout exceeded")
	reasonSpam        = "spam"         // the content was judged spam
	reasonAuth        = "auth"         // SPF, DKIM or DMARC failed, or authentication was required (X.7.8, X.7.26)
	reasonNetwork     = "network"      // connection or routing trouble (X.4.x)
	reasonOther       = "other"        // anything else
)

// maxDiagnostic is how much of the remote server's words a Recipient keeps.
const maxDiagnostic = 500

// enhancedRe finds an RFC 3463 enhanced status code (class.subject.detail)
// that is not part of a longer dotted number such as an IP address.
var enhancedRe = regexp.MustCompile(`(?:^|[^0-9.])([245])\.([0-9]{1,3})\.([0-9]{1,3})(?:[^0-9.]|$)`)

// replyCodeRe finds an SMTP reply code (RFC 5321 §4.2): three digits, 4xx or
// 5xx, followed by a space, a hyphen (a multi-line reply) or the end.
var replyCodeRe = regexp.MustCompile(`(?:^|[^0-9A-Za-z.\-\[/=#])([45][0-9][0-9])(?:[ \-]|:\s|$)`)

// statusCode is an RFC 3463 enhanced status code split into its numbers.
type statusCode struct {
	class, subject, detail int
}

// parseStatus reads "5.1.1" (and "5.0.0 (permanent failure)"); ok is false
// when s holds no code.
func parseStatus(s string) (statusCode, bool) {
	m := enhancedRe.FindStringSubmatch(s)
	if m == nil {
		return statusCode{}, false
	}
	c, _ := strconv.Atoi(m[1])
	sub, _ := strconv.Atoi(m[2])
	det, _ := strconv.Atoi(m[3])
	return statusCode{c, sub, det}, true
}

func (s statusCode) String() string {
	return strconv.Itoa(s.class) + "." + strconv.Itoa(s.subject) + "." + strconv.Itoa(s.detail)
}

// generic reports whether a code says nothing about the cause: X.0.0, and
// the catch-alls X.3.0, X.5.0 and X.6.0 (qmail appends "#5.5.0" to every
// permanent error, whatever it was).
func (s statusCode) generic() bool {
	switch s.subject {
	case 0:
		return true
	case 3, 5, 6:
		return s.detail == 0
	}
	return false
}

// statusCodes lists every enhanced code in text, in order.
func statusCodes(text string) []statusCode {
	var out []statusCode
	for _, m := range enhancedRe.FindAllStringSubmatch(text, 20) {
		if sc, ok := parseStatus(m[0]); ok {
			out = append(out, sc)
		}
	}
	return out
}

// firstReplyCode returns the first SMTP reply code in text, "" when none.
func firstReplyCode(text string) string {
	if m := replyCodeRe.FindStringSubmatch(text); m != nil {
		return m[1]
	}
	return ""
}

// Wording the remote servers use, lower-cased. English from the MTAs' own
// templates and the big providers; Japanese from the carriers' notices.
var (
	mailboxFullText = regexp.MustCompile(`mailbox (is )?full|mailbox.{0,40}(quota|storage)|over ?quota|quota.{0,20}(exceeded|full)|exceeded.{0,30}(quota|storage)|insufficient (system )?storage|mailfolder is full|user is over|out of storage|一杯|いっぱい|容量.{0,10}(超|オーバー)`)
	senderText      = regexp.MustCompile(`sender (address )?(denied|rejected|refused|blocked|not (allowed|permitted|authorized))|(bad|invalid|unknown) sender|sender (address|domain) (does not exist|not found|unknown|is invalid)|mail from .{0,80}(rejected|refused|denied)|domain of sender address .{0,60}does not (exist|resolve)`)
	userUnknownText = regexp.MustCompile(`user (is )?unknown|unknown (user|recipient|local[- ]part|mailbox)|no such (user|mailbox|recipient|account|address|person)|(user|mailbox|recipient|account|address|e-?mail account)(\s\S+){0,3} (does not|doesn't|did not) exist|does not exist|(user|recipient|mailbox|address|account) not found|recipient ?not ?found|not a valid (recipient|mailbox|user)|invalid (recipient|mailbox|address|user)|address (couldn't|could not|cannot|can't) be found|address not found|mailbox unavailable|mailbox (not|does not) (found|exist)|user (not|doesn't) exist|unrouteable address|not our customer|(doesn't|does not) have an? .{0,30}account|no mailbox here|account (has been |is )?(disabled|closed|removed|deleted)|has moved|moved permanently|no longer (valid|available|active)|存在しません|見つかりません|見つからな|宛先不明|宛先が不正`)
	hostUnknownText = regexp.MustCompile(`host (or domain name )?(not found|unknown)|unknown host|domain (name )?(not found|does not exist|unknown)|no such domain|nxdomain|name service error|unrouteable (mail )?domain|no (mx|mail exchanger|mail server)|couldn't find (any host|a mail server)|dns (lookup|error).{0,40}(fail|not found)|null mx|all relevant mx records point to non-existent hosts|ドメインが(存在|見つか)`)
	spamText        = regexp.MustCompile(`\bspam\b|\bspammy\b|junk mail|bulk mail|content.{0,30}(rejected|refused|filter)|message content|suspicious|phish|virus|malware|迷惑メール`)
	blockedText     = regexp.MustCompile(`block(ed|list)|blacklist|denylist|listed (at|in|on|by)|\brbl\b|\bdnsbl\b|spamhaus|spamcop|barracuda|reputation|poor reputation|banned|ip .{0,40}(rejected|refused)|client host .{0,60}rejected|access denied|connection refused by .{0,20}policy|too many (connections|messages|recipients)|rate limit|throttl`)
	policyText      = regexp.MustCompile(`policy|not (allowed|permitted|authorized) to|prohibited|restricted|refused by|administrative(ly)? prohibit|relay(ing)? (access )?(denied|not permitted)|受信拒否|拒否`)
	authText        = regexp.MustCompile(`\bspf\b|\bdkim\b|\bdmarc\b|authenticat|unauthenticated|not aligned|reverse dns|\bptr\b`)
	expiredText     = regexp.MustCompile(`retry timeout exceeded|retry time not reached for any host|(message|mail) (has been )?(expired|too long in queue)|delivery (time|period) expired|has not been delivered .{0,40} days|gave up|giving up|could not be delivered within|maximum (queue )?lifetime|time(d)? ?out.{0,40}(queue|retry)`)
	networkText     = regexp.MustCompile(`connection (timed out|refused|reset|lost|closed)|timed out|time-?out|network is unreachable|no route to host|lost connection|could not connect|couldn't connect|unable to connect|connect to .{0,80} failed|temporary (failure|error|problem)|try again later|\btls\b|\bssl\b`)
	filteredText    = regexp.MustCompile(`filter|account (is )?(suspended|inactive|locked)|disabled|inactive|not accepting|refuses? to accept|receiving mail.{0,20}(disabled|suspended)|ドメイン指定|受信設定|指定受信`)
	// A carrier's or provider's own words that the address is gone, stronger
	// than "filter" in the same notice (au: "The user(s) account is disabled").
	carrierGoneText = regexp.MustCompile(`the user\(s\) account is disabled|送信先メールアドレスが見つかりません|宛先のアドレスは存在しません`)
)

// authCodes are RFC 3463 / provider X.7.x codes about the sender's
// authentication (RFC 7372: 5.7.20–5.7.27; Gmail 5.7.26; Outlook 5.7.515,
// 5.7.509; 5.7.8 bad credentials, 5.7.0 only with auth wording). They are
// the sender's problem, never the recipient's.
var authCodes = map[int]bool{8: true, 20: true, 21: true, 22: true, 23: true, 24: true, 25: true, 26: true, 27: true, 30: true, 57: true, 509: true, 515: true}

// reasonOf decides why a recipient failed and whether the failure is hard
// (RFC 3463 first, then the reply code and the server's words):
//
//	X.1.1 X.1.0 X.1.3 X.1.10 X.1.6   user_unknown   hard (the address itself)
//	X.1.2, X.4.4 "host not found"     host_unknown   hard
//	X.2.2, "mailbox full", any code   mailbox_full   soft (wins over every other code)
//	X.2.0 X.2.1                       filtered       soft (docomo's "550 Unknown user" filter is 5.2.0)
//	X.1.7 X.1.8, "sender denied"      rejected       soft (our sender was refused)
//	X.7.1 and other X.7.x             spam|blocked|policy by wording, soft
//	X.7.8 X.7.2x X.7.515 ...          auth           soft (sender side)
//	X.4.7, "retry timeout exceeded"   expired        soft
//	other X.4.x                       network        soft
//
// Hard is never true for a temporary (4.x.x or delayed) failure. A generic
// status (X.0.0) defers to the first specific code in the diagnostic, then
// to the words.
func reasonOf(status, diagnostic string, temporary bool) (reason string, hard bool) {
	text := strings.ToLower(diagnostic)
	sc, ok := parseStatus(status)
	if !ok || sc.generic() {
		for _, c := range statusCodes(diagnostic) {
			if !c.generic() {
				sc, ok = c, true
				break
			}
		}
	}
	reason = reasonFromCode(sc, ok, text)
	if reason == "" {
		reason = reasonFromText(text)
	}
	if ok && sc.class == 4 {
		temporary = true
	}
	hard = !temporary && (reason == reasonUserUnknown || reason == reasonHostUnknown)
	return reason, hard
}

// reasonFromCode maps a specific enhanced code to a reason; "" leaves the
// decision to the words.
func reasonFromCode(sc statusCode, ok bool, text string) string {
	full := mailboxFullText.MatchString(text)
	if ok && sc.subject == 2 && sc.detail == 2 || full {
		return reasonMailboxFull
	}
	if !ok || sc.generic() {
		return ""
	}
	switch sc.subject {
	case 1:
		switch sc.detail {
		case 0, 1, 3, 6, 10:
			if senderText.MatchString(text) {
				return reasonRejected
			}
			return reasonUserUnknown
		case 2:
			return reasonHostUnknown
		case 7, 8:
			return reasonRejected
		}
	case 2:
		switch sc.detail {
		case 0, 1:
			return reasonFiltered
		}
		return reasonOther
	case 4:
		switch {
		case sc.detail == 7:
			return reasonExpired
		case sc.class == 5 && hostUnknownText.MatchString(text):
			return reasonHostUnknown
		case expiredText.MatchString(text):
			return reasonExpired
		}
		return reasonNetwork
	case 7:
		switch {
		case authCodes[sc.detail]:
			return reasonAuth
		case sc.detail >= 606 && sc.detail <= 649:
			// Exchange Online: the sending IP is on its block list.
			return reasonBlocked
		case blockedText.MatchString(text):
			return reasonBlocked
		case spamText.MatchString(text):
			return reasonSpam
		case sc.detail == 0 && authText.MatchString(text):
			return reasonAuth
		}
		return reasonPolicy
	}
	return ""
}

// reasonFromText decides from the server's words alone.
func reasonFromText(text string) string {
	switch {
	case text == "":
		return reasonOther
	case mailboxFullText.MatchString(text):
		return reasonMailboxFull
	case senderText.MatchString(text):
		return reasonRejected
	case expiredText.MatchString(text):
		return reasonExpired
	case carrierGoneText.MatchString(text):
		return reasonUserUnknown
	case hostUnknownText.MatchString(text):
		return reasonHostUnknown
	case userUnknownText.MatchString(text):
		return reasonUserUnknown
	case blockedText.MatchString(text):
		return reasonBlocked
	case spamText.MatchString(text):
		return reasonSpam
	case authText.MatchString(text):
		return reasonAuth
	case filteredText.MatchString(text):
		return reasonFiltered
	case policyText.MatchString(text):
		return reasonPolicy
	case networkText.MatchString(text):
		return reasonNetwork
	}
	return reasonOther
}

// clip replaces invalid UTF-8, collapses runs of white space and cuts s to at most n bytes without
// splitting a UTF-8 sequence.
func clip(s string, n int) string {
	s = strings.Join(strings.Fields(strings.ToValidUTF8(s, "\uFFFD")), " ")
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut]
}
