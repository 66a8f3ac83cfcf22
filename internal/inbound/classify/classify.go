package classify

import (
	"bytes"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
	// Registers go-message's charset table (IANA and WHATWG labels) used
	// for every non-Japanese charset label.
	_ "github.com/emersion/go-message/charset"
)

// maxText is the most of a message's text a Result carries, in bytes.
const maxText = 64 << 10

// ErrEmpty is returned for an empty message.
var ErrEmpty = errors.New("classify: empty message")

// Classify reads one raw message (RFC 5322, at most MaxSize bytes of it
// are read) and says what it is. The rules, in order:
//
//  1. a feedback report (ARF, RFC 5965: multipart/report with
//     report-type=feedback-report, or a message/feedback-report part);
//  2. a bounce or delay notice: an RFC 3464 delivery-status report, or a
//     known non-standard shape (parseReport, parseBounce);
//  3. a calendar reply (iMIP, RFC 6047: text/calendar with METHOD:REPLY);
//  4. a request to stop, by its subject (配信停止, unsubscribe, …), unless
//     the subject negates it ("Please do NOT unsubscribe me",
//     配信停止しないでください: unsubscribeSubject) — mail to the
//     List-Unsubscribe mailto address is decided by the caller, see
//     ForUnsubscribeAddress;
//  5. an automatic reply (RFC 3834 Auto-Submitted other than "no",
//     X-Autoreply, X-Autorespond, Precedence: auto_reply or junk,
//     X-Apple-Action: vacation, Exchange's inbox-rule markers, a null
//     Return-Path, out-of-office subjects);
//  6. anything else is a human reply.
//
// Malformed MIME, wrong charset labels and broken RFC 2047 words are read
// as well as they can be; Classify does not fail on them. Its error is
// ErrEmpty for an empty message, or a failure of its own (reported, never
// a crash of the caller).
func Classify(raw []byte) (res Result, err error) {
	defer func() {
		// A guard, not a mechanism: every path above is written not to
		// panic, and FuzzClassify checks it.
		if p := recover(); p != nil {
			res = Result{Class: HumanReply, Recipients: []Recipient{}}
			err = fmt.Errorf("classify: internal error: %v", p)
		}
	}()
	if len(bytes.TrimSpace(raw)) == 0 {
		return Result{Class: HumanReply, Recipients: []Recipient{}}, ErrEmpty
	}
	if len(raw) > MaxSize {
		raw = raw[:MaxSize]
	}
	var w walker
	root := w.parse(raw, 0)
	res = base(root)

	if arf, ok := feedbackReport(root); ok {
		res.Class = FeedbackReport
		res.OriginalMessageID = arf.OriginalMessageID
		res.OriginalTo = arf.OriginalTo
		res.Automatic = true
		return res, nil
	}
	if b, ok := bounce(raw, root, res.Text); ok {
		res.Class = b.Class
		if b.Recipients != nil {
			res.Recipients = b.Recipients
		}
		res.OriginalMessageID = b.OriginalMessageID
		res.OriginalTo = b.OriginalTo
		if b.Text != "" {
			res.Text = capText(b.Text)
		}
		res.Automatic = true
		return res, nil
	}
	if cal, ok := calendarReply(root, res.From); ok {
		res.Class = CalendarReply
		res.Calendar = cal
		// A calendar answer is sent by a client for a person: not Automatic.
		return res, nil
	}
	auto := automatic(root.header)
	switch {
	case !auto && unsubscribeSubject(res.Subject):
		res.Class = UnsubscribeRequest
	case auto || autoReplySubject(res.Subject) || isReport(root) || daemonSender(res.From):
		res.Class = AutoReply
		res.Automatic = true
	default:
		res.Class = HumanReply
	}
	return res, nil
}

// bounce asks the delivery-status parsers: parseReport for a
// multipart/report of delivery-status, parseBounce for everything else
// (the non-standard notices of Postfix, Exim, qmail, the Japanese
// carriers, …).
func bounce(raw []byte, root *part, text string) (Result, bool) {
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		e = nil
	}
	if e != nil && root.mediaType == "multipart/report" && !isFeedback(root) {
		if r, ok := parseReport(e); ok {
			return r, true
		}
		if e, err = message.Read(bytes.NewReader(raw)); err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
			e = nil
		}
	}
	h := root.header
	return parseBounce(&h, e, text)
}

// base fills the fields every class has.
func base(root *part) Result {
	h := root.header
	r := Result{
		Recipients: []Recipient{},
		MessageID:  firstID(field(h, "Message-Id")),
		InReplyTo:  firstID(field(h, "In-Reply-To")),
		References: msgIDs(field(h, "References")),
		Subject:    cleanLine(decodeHeader(h.Get("Subject"))),
		Date:       parseDate(h.Get("Date")),
		Text:       capText(bodyText(root)),
	}
	if from := addressList(field(h, "From")); len(from) > 0 {
		r.From = from[0]
	} else if sender := addressList(field(h, "Sender")); len(sender) > 0 {
		r.From = sender[0]
	}
	seen := map[string]bool{}
	for _, k := range []string{"To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To"} {
		for _, v := range h.Values(k) {
			for _, a := range addressList(utf8Field(v)) {
				if !seen[a] {
					seen[a] = true
					r.Addresses = append(r.Addresses, a)
				}
			}
		}
	}
	return r
}

// field is a structured header field (addresses, message identifiers) as
// valid UTF-8: such fields are ASCII, or UTF-8 under RFC 6532; stray
// 8-bit bytes are decoded as text would be.
func field(h message.Header, k string) string { return utf8Field(h.Get(k)) }

func utf8Field(v string) string {
	if utf8.ValidString(v) {
		return v
	}
	return decodeText([]byte(v), "")
}

// bodyText is the message's text: the first text/plain part that is not
// an attachment, else the first text/html part as text.
func bodyText(root *part) string {
	var plain, html *part
	root.walk(func(p *part) bool {
		if p.attachment() {
			return true
		}
		switch p.mediaType {
		case "text/plain":
			if plain == nil {
				plain = p
			}
		case "text/html":
			if html == nil {
				html = p
			}
		}
		return plain == nil
	})
	switch {
	case plain != nil:
		return normalizeNewlines(plain.text())
	case html != nil:
		return htmlToText(html.text())
	}
	return ""
}

func normalizeNewlines(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\r", "\n")
}

// capText trims s to maxText bytes at a character boundary.
func capText(s string) string {
	if len(s) <= maxText {
		return s
	}
	cut := maxText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// cleanLine makes a header value one line.
func cleanLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// firstID is the first message identifier of a field, without <>.
func firstID(v string) string {
	if ids := msgIDs(v); len(ids) > 0 {
		return ids[0]
	}
	return ""
}

// msgIDs lists the message identifiers of a Message-ID, In-Reply-To or
// References field (RFC 5322 §3.6.4), without angle brackets. Fields
// without brackets (seen in the wild) give their words that hold an "@",
// or, failing that, their first word.
func msgIDs(v string) []string {
	v = unfold(v)
	var ids []string
	rest := v
	for {
		i := strings.IndexByte(rest, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i:], '>')
		if j < 0 {
			break
		}
		if id := strings.TrimSpace(rest[i+1 : i+j]); id != "" && !strings.ContainsAny(id, " \t") {
			ids = append(ids, id)
		}
		rest = rest[i+j+1:]
	}
	if len(ids) > 0 {
		return ids
	}
	fields := strings.Fields(v)
	for _, f := range fields {
		if strings.Contains(f, "@") {
			ids = append(ids, strings.Trim(f, "<>,;\"'"))
		}
	}
	if len(ids) == 0 && len(fields) > 0 && !strings.HasPrefix(fields[0], "(") {
		if id := strings.Trim(fields[0], "<>,;\"'"); id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}

// addressList extracts the addresses of an address-list field (RFC 5322
// §3.4), lower-cased, ignoring display names and comments. It is a
// tokenizer rather than a strict parser: the addresses Japanese carriers
// issued before 2009 (taro..yamada@docomo.ne.jp) break the grammar but
// must still be read.
func addressList(v string) []string {
	v = unfold(v)
	var out []string
	var cur strings.Builder
	var angle strings.Builder
	inQuote, inAngle, hadAngle, depth := false, false, false, 0
	emit := func() {
		a := cur.String()
		if hadAngle {
			a = angle.String()
		}
		a = strings.ToLower(strings.Trim(strings.TrimSpace(a), "<>;,"))
		a = strings.TrimPrefix(a, "mailto:")
		if i := strings.LastIndexByte(a, '@'); i > 0 && i < len(a)-1 && !strings.ContainsAny(a, " \t") {
			out = append(out, a)
		}
		cur.Reset()
		angle.Reset()
		hadAngle = false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case inQuote:
			if c == '\\' && i+1 < len(v) {
				i++
				cur.WriteByte(v[i])
				continue
			}
			if c == '"' {
				inQuote = false
			}
			cur.WriteByte(c)
		case depth > 0:
			switch c {
			case '(':
				depth++
			case ')':
				depth--
			}
		case inAngle:
			if c == '>' {
				inAngle = false
				continue
			}
			angle.WriteByte(c)
		case c == '"':
			inQuote = true
			cur.WriteByte(c)
		case c == '(':
			depth = 1
		case c == '<':
			inAngle, hadAngle = true, true
			angle.Reset()
		case c == ',' || c == ';':
			emit()
		default:
			cur.WriteByte(c)
		}
	}
	emit()
	return out
}

// parseDate reads a Date field (RFC 5322 §3.3, with net/mail's
// tolerance); zero when unreadable.
func parseDate(v string) time.Time {
	v = strings.TrimSpace(unfold(v))
	if v == "" {
		return time.Time{}
	}
	if t, err := mail.ParseDate(v); err == nil {
		return t
	}
	if i := strings.LastIndexByte(v, '('); i > 0 {
		if t, err := mail.ParseDate(strings.TrimSpace(v[:i])); err == nil {
			return t
		}
	}
	for _, layout := range []string{time.RFC3339, "2006/01/02 15:04:05 -0700", "Mon, 2 Jan 2006 15:04:05 MST", "2 Jan 2006 15:04:05 -0700"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t
		}
	}
	return time.Time{}
}

// isReport says whether the message is a multipart/report of any kind
// (RFC 6522): machine-made, never a person's reply.
func isReport(root *part) bool { return root.mediaType == "multipart/report" }

// daemonSender recognises the senders of mail systems' own notices.
func daemonSender(from string) bool {
	local, _, ok := strings.Cut(from, "@")
	if !ok {
		return false
	}
	switch local {
	case "mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon":
		return true
	}
	return false
}
