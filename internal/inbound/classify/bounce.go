package classify

import (
	"regexp"
	"sort"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
)

// Non-standard bounces: notices that are not a multipart/report but a
// text written by the mail system (Postfix before DSN, Exim, Sendmail,
// qmail, Exchange, Gmail, Yahoo, Amazon SES, the Japanese carriers). Each
// has its own template; rather than one parser per template, parseBounce
// recognises a notice by the template's fixed sentences, finds the failed
// addresses in the part above the returned copy, and reads each address's
// neighbourhood for the server's reply (research/domain.md §4).

// strongMarkers are sentences only a mail system writes; one is enough.
var strongMarkers = regexp.MustCompile(`(?im)` + strings.Join([]string{
	`^this is the (mail system|postfix program) at host`,                              // Postfix
	`^this message was created automatically by mail delivery software`,               // Exim
	`^a message that you sent could not be delivered to one or more of its`,           // Exim
	`^a message that you sent has not yet been delivered to one or more of its`,       // Exim, delay warning
	`^hi\. this is the qmail-send program`,                                            // qmail
	`-{3,} the following addresses had permanent fatal errors -{3,}`,                  // Sendmail
	`-{3,} transcript of session follows -{3,}`,                                       // Sendmail
	`^delivery has failed to these recipients or (groups|distribution lists)`,         // Exchange, Office 365
	`^your message (to .{1,200} )?couldn't be delivered`,                              // Office 365
	`rejected your message to the following e-?mail addresses`,                        // Office 365
	`^delivery to the following recipients? (failed permanently|has been delayed)`,    // Gmail (old)
	`^\*\* (address not found|message not delivered|message blocked) \*\*`,            // Gmail
	`^sorry, we were unable to deliver your message to the following address`,         // Yahoo
	`^the following message to <[^>]+> was undeliverable`,                             // Amazon SES
	`^an error occurred while trying to deliver the mail to the following recipients`, // Amazon SES (text)
	`^could not be delivered to:`,                                                     // au (KDDI)
	`^\s*your mail sent on: `,                                                         // au (KDDI)
	`^each of the following recipients was rejected by a remote`,                      // au (ezweb)
	`^次のあて先へのメッセージはエラーのため送信できませんでした`,                                                  // au (ezweb)
	`^message could not be delivered to the following recipients?`,                    // SoftBank
	`^i'm sorry to have to inform you that your message could not`,                    // Postfix
	`^your message did not reach some or all of the intended recipients`,              // Exchange 2003
	`^unable to deliver message to the following (address|recipient)`,                 // various qmail clones
	`^the original message was received at .{5,80}\n\s*from `,                         // Sendmail
}, "|"))

// weakMarkers say a delivery failed; they count only with a mail system's
// sender or a notice's subject.
var weakMarkers = regexp.MustCompile(`(?i)could not be delivered|couldn't be delivered|was not delivered|undeliver|delivery (has )?failed|failed permanently|permanent (fatal )?error|returned mail|user unknown|unknown user|mailbox (is )?full|送信できませんでした|配信できませんでした|届きませんでした|存在しません|宛先不明`)

// bounceSubject matches the subjects mail systems give their notices.
var bounceSubject = regexp.MustCompile(`(?i)^\s*(undeliver(ed|able)|mail delivery (failed|failure|system)|failure notice|returned mail|delivery status notification|delivery (failure|failed|notification|report)|mail system error|non[- ]?delivery|nondeliverable|warning: message .{0,60} delayed|delayed mail|message (delivery )?(failure|delayed|not delivered)|mail could not be delivered|could not send message|delivery has failed|メールエラー通知|配信エラー|送信エラー|エラーメール|未配達|配信不能|不達|宛先不明)`)

// daemonLocal matches the local parts mail systems send notices from.
var daemonLocal = regexp.MustCompile(`(?i)^(mailer[-_]?daemon|mail[-_]?daemon|postmaster|mail[-_]?delivery[-_]?(system|subsystem)?|mdaemon|mail[-_]?administrator|bounces?)$`)

// replyLike is a subject of someone answering or forwarding, who may quote a
// notice without being one.
var replyLike = regexp.MustCompile(`(?i)^\s*(re|fwd?|aw|wg|tr|sv|vs|回答|転送)\s*[:：]`)

// delayMarkers say the mail system is still trying; permanentMarkers that
// it has given up (and win when both appear).
var (
	delayMarkers     = regexp.MustCompile(`(?i)this is a warning (message )?only|you do not need to resend|has not yet been delivered|has been delayed|delivery attempts will continue|will (continue to )?(be )?retr(y|ied)|still being retried|delay reason:|warning: message .{0,60} delayed|^\s*delayed mail|\(delay\)`)
	permanentMarkers = regexp.MustCompile(`(?i)permanent (fatal )?error|failed permanently|permanent failure|i've given up|has given up|giving up|could not be delivered to one or more|rejected your message|delivery has failed`)
)

// copyMarkers start the copy of the returned message inside a notice's text.
var copyMarkers = regexp.MustCompile(`(?im)^[ \t]*(` + strings.Join([]string{
	`-+ ?below this line is a copy of the message\.?`,        // qmail, Yahoo
	`-+ this is a copy of the (message|body of the message)`, // Exim
	`-+ original message -+`,                                 // Gmail (old)
	`-+ ?original message follows\.?`,                        // Yahoo (old)
	`original message headers:`,                              // Exchange
	`-+ ?(the )?(returned|original|unsent|undelivered) message (follows|below|headers follow)?[ -]*$`,
	`content-type: message/(rfc822|global)`, // an inline copy
	`-+ ?undelivered message follows`,       // Postfix (old)
	`-+ ?headers of the original message`,
}, "|") + `)`)

// copyMarker returns where the returned copy starts in text, -1 when no
// marker is found.
func copyMarker(text string) int {
	if loc := copyMarkers.FindStringIndex(text); loc != nil {
		return loc[0]
	}
	return -1
}

// headerLine is a line that quotes a header field, whose addresses are the
// sender's or a Message-ID, never a failed recipient.
var headerLine = regexp.MustCompile(`(?im)^[ \t>]*(message-id|in-reply-to|references|received|from|to|cc|reply-to|return-path|sender|date|subject|dkim-signature|delivered-to|x-[a-z0-9-]+|authentication-results|list-[a-z-]+|generating server|reporting-mta|received-from-mta|x-postfix-sender|arrival-date):.*(\r?\n[ \t]+.*)*`)

// parseBounce recognises a notice that is not a multipart/report, from its
// header h (From, Subject, X-Failed-Recipients) and its plain text (text;
// when empty, the text/plain parts of e are read instead). e may be nil; when
// given and unread, its message/rfc822 or text/rfc822-headers part gives the
// original Message-ID and recipients, and a message/delivery-status part
// under another multipart type is read as RFC 3464. A notice whose failed
// addresses cannot be found is still a Bounce, with no Recipients, so it is
// never mistaken for a person's reply. It consumes e.
func parseBounce(h *message.Header, e *message.Entity, text string) (Result, bool) {
	if h == nil {
		if e == nil {
			return Result{}, false
		}
		h = &e.Header
	}
	mh := mail.Header{Header: *h}
	subject, _ := mh.Subject()
	var (
		status []byte
		orig   originalMessage
		plain  strings.Builder
	)
	if e != nil {
		for _, p := range leaves(e) {
			switch p.mediaType {
			case "message/delivery-status", "message/global-delivery-status":
				if status == nil {
					status = p.body
				}
			case "message/rfc822", "message/global", "text/rfc822-headers", "message/global-headers", "message/rfc822-headers":
				if orig.messageID == "" {
					orig = readOriginal(p.body)
				}
			case "text/plain":
				if plain.Len() < maxPartBytes {
					plain.Write(p.body)
					plain.WriteByte('\n')
				}
			}
		}
	}
	if strings.TrimSpace(text) == "" {
		text = plain.String()
	}
	if len(text) > maxPartBytes {
		text = text[:maxPartBytes]
	}
	if orig.messageID == "" {
		q := quotedOriginal(text)
		orig.messageID = q.messageID
		if len(orig.to) == 0 {
			orig.to = q.to
		}
	}
	if status != nil {
		if res, ok := bounceResult(parseDeliveryStatus(status, text), orig); ok {
			return res, true
		}
	}
	failed := headerAddresses(mh, "X-Failed-Recipients")
	if !isNotice(mh, subject, text, len(failed) > 0) {
		return Result{}, false
	}
	region := text
	if i := copyMarker(region); i >= 0 {
		region = region[:i]
	}
	// A DSN pasted as text (some gateways flatten the report).
	if i := strings.Index(asciiLower(region), "final-recipient:"); i >= 0 {
		if res, ok := bounceResult(parseDeliveryStatus([]byte(region[i:]), region), orig); ok {
			return res, true
		}
	}
	action := "failed"
	if (delayMarkers.MatchString(region) || delayMarkers.MatchString(subject)) && !permanentMarkers.MatchString(region) {
		action = "delayed"
	}
	candidates := failed
	if len(candidates) == 0 {
		candidates = textRecipients(region, noticeAddresses(mh))
	}
	if len(candidates) == 0 {
		candidates = orig.to
	}
	var recipients []Recipient
	for _, addr := range candidates {
		if len(recipients) >= maxRecipients {
			break
		}
		chunk := textAbout(region, addr, candidates...)
		r := Recipient{Address: addr, Action: action}
		codes := statusCodes(chunk)
		for _, c := range codes {
			if !c.generic() {
				r.Status = c.String()
				break
			}
		}
		if r.Status == "" && len(codes) > 0 {
			r.Status = codes[0].String()
		}
		r.ReplyCode = firstReplyCode(chunk)
		words := chunk
		if r.Status == "" && r.ReplyCode == "" && len(candidates) == 1 {
			// The reason is written above the address (au, docomo,
			// Exchange's first paragraph).
			words = region
		}
		r.Reason, r.Hard = reasonOf(r.Status, words, action != "failed")
		if r.Reason == reasonOther && words != region && len(candidates) == 1 {
			r.Reason, r.Hard = reasonOf(r.Status, region, action != "failed")
		}
		if r.Status == "" && r.ReplyCode != "" {
			// The reply code alone says permanent or temporary; it is
			// not an enhanced status, so Status stays "".
			if r.ReplyCode[0] == '4' {
				r.Hard = false
			}
		}
		r.Diagnostic = clip(chunk, maxDiagnostic)
		recipients = append(recipients, r)
	}
	res, ok := bounceResult(recipients, orig)
	if !ok {
		// A notice with no address we could read: still a bounce, never a
		// reply to forward.
		res = Result{Class: Bounce, Recipients: []Recipient{}, OriginalMessageID: orig.messageID, OriginalTo: orig.to, Automatic: true}
		if action == "delayed" {
			res.Class = Delayed
		}
	}
	return res, true
}

// isNotice decides whether a message is a mail system's notice: one of the
// templates' own sentences, or a failure's wording from a mail system's
// address or under a notice's subject. A person's reply or forward that
// quotes a notice is not one.
func isNotice(h mail.Header, subject, text string, failedHeader bool) bool {
	daemon := false
	if from, err := h.AddressList("From"); err == nil {
		for _, a := range from {
			local, _, _ := strings.Cut(a.Address, "@")
			if daemonLocal.MatchString(local) {
				daemon = true
			}
		}
	} else if v := strings.ToLower(h.Get("From")); strings.Contains(v, "mailer-daemon") || strings.Contains(v, "postmaster") {
		daemon = true
	}
	if replyLike.MatchString(subject) && !daemon {
		return false
	}
	if failedHeader && (daemon || bounceSubject.MatchString(subject)) {
		return true
	}
	head := text
	if i := copyMarker(head); i >= 0 {
		head = head[:i]
	}
	if strongMarkers.MatchString(head) {
		return true
	}
	return (daemon || bounceSubject.MatchString(subject)) && weakMarkers.MatchString(head)
}

// headerAddresses lists the addresses of a header field (X-Failed-Recipients
// is a comma-separated list of bare addresses, Exim's spec §49.6).
func headerAddresses(h mail.Header, key string) []string {
	var out []string
	for _, v := range h.Values(key) {
		for _, a := range addressRe.FindAllString(v, maxRecipients) {
			out = appendUnique(out, normalizeAddress(a))
		}
	}
	return out
}

// noticeAddresses are the addresses of the notice itself (its sender, its
// recipient — our envelope sender — and the mail system's roles): never a
// failed recipient.
func noticeAddresses(h mail.Header) map[string]bool {
	own := map[string]bool{}
	for _, k := range []string{"From", "To", "Cc", "Reply-To", "Sender", "Return-Path", "Delivered-To", "X-Original-To", "Errors-To"} {
		for _, v := range h.Values(k) {
			for _, a := range addressRe.FindAllString(v, 50) {
				own[normalizeAddress(a)] = true
			}
		}
	}
	return own
}

// textRecipients finds the failed addresses in the report part of a
// notice: every address outside quoted header lines, minus the notice's own
// and the mail system's role addresses, in order of first appearance.
func textRecipients(region string, own map[string]bool) []string {
	clean := headerLine.ReplaceAllString(region, "")
	var out []string
	for _, a := range addressRe.FindAllString(clean, 4*maxRecipients) {
		a = normalizeAddress(a)
		local, domain, _ := strings.Cut(a, "@")
		if own[a] || daemonLocal.MatchString(local) || !strings.Contains(domain, ".") {
			continue
		}
		out = appendUnique(out, a)
		if len(out) >= maxRecipients {
			break
		}
	}
	return out
}

// textAbout gathers what text says about addr: from each place the address
// appears, up to the next other address of others (or 700 bytes). The
// pieces that carry a reply code come first, since a notice often names the
// address once in a friendly sentence and once beside the server's reply.
func textAbout(text, addr string, others ...string) string {
	if text == "" || addr == "" {
		return ""
	}
	lower := asciiLower(text)
	var pieces []string
	end := 0
	for from := 0; from < len(lower); {
		i := strings.Index(lower[from:], addr)
		if i < 0 {
			break
		}
		start := from + i
		from = start + len(addr)
		if start < end {
			continue
		}
		end = from + 700
		if end > len(text) {
			end = len(text)
		}
		for _, o := range others {
			if o == addr || strings.Contains(addr, o) {
				continue
			}
			if j := strings.Index(lower[from:end], o); j >= 0 && from+j < end {
				end = from + j
			}
		}
		// Back up to the start of the line the next address is on, so a
		// "<next>:" paragraph is not cut in the middle.
		if end < len(text) {
			if nl := strings.LastIndexByte(text[from:end], '\n'); nl >= 0 {
				end = from + nl
			}
		}
		piece := strings.TrimSpace(text[start+len(addr) : end])
		piece = strings.TrimLeft(piece, ">:) ")
		if piece != "" {
			pieces = append(pieces, piece)
		}
		if len(pieces) >= 8 {
			break
		}
	}
	sort.SliceStable(pieces, func(i, j int) bool {
		return firstReplyCode(pieces[i]) != "" && firstReplyCode(pieces[j]) == ""
	})
	return strings.Join(pieces, "\n")
}

// asciiLower lower-cases the ASCII letters of s only, so every index into
// the result is an index into s (strings.ToLower may change lengths).
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
