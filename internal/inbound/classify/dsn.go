package classify

import (
	"bufio"
	"bytes"
	"io"
	"regexp"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// Limits that keep a hostile message from costing more than a real one.
const (
	maxPartBytes  = 1 << 20 // bytes read from any one MIME part
	dsnMaxParts   = 64      // MIME parts visited in one message
	dsnMaxDepth   = 8       // nesting of multiparts
	maxRecipients = 500     // recipients kept from one notice
)

// dsnPart is one leaf of a MIME tree, read into memory (at most maxPartBytes).
type dsnPart struct {
	mediaType string
	header    message.Header
	body      []byte
}

// leaves reads the leaf parts of e, depth first, in order. It never fails:
// a broken part ends the walk of its multipart and what was read is kept.
// It consumes e.
func leaves(e *message.Entity) []dsnPart {
	var out []dsnPart
	var walk func(e *message.Entity, depth int)
	walk = func(e *message.Entity, depth int) {
		if e == nil || len(out) >= dsnMaxParts {
			return
		}
		if mr := e.MultipartReader(); mr != nil {
			if depth >= dsnMaxDepth {
				return
			}
			for len(out) < dsnMaxParts {
				p, err := mr.NextPart()
				if p == nil || (err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err)) {
					return
				}
				walk(p, depth+1)
			}
			return
		}
		mt, _, _ := e.Header.ContentType()
		if mt == "" {
			mt = "text/plain"
		}
		body, _ := io.ReadAll(io.LimitReader(e.Body, maxPartBytes))
		out = append(out, dsnPart{mediaType: strings.ToLower(mt), header: e.Header, body: body})
	}
	walk(e, 0)
	return out
}

// isDeliveryReport reports whether h is a delivery status notification's top
// header: multipart/report; report-type=delivery-status (RFC 6522 §3,
// RFC 3464 §2; RFC 6533's global-delivery-status too).
func isDeliveryReport(h *message.Header) bool {
	mt, params, err := h.ContentType()
	if err != nil || !strings.EqualFold(mt, "multipart/report") {
		return false
	}
	rt := strings.ToLower(params["report-type"])
	return rt == "delivery-status" || rt == "global-delivery-status"
}

// parseReport reads a multipart/report; report-type=delivery-status
// (RFC 3464, RFC 6522): one Recipient per failed or delayed per-recipient
// block of its message/delivery-status part, the original Message-ID and
// recipients from its message/rfc822 or text/rfc822-headers part. It
// returns ok false when e is not such a report or reports no failed or
// delayed recipient (a success notice). It consumes e.
func parseReport(e *message.Entity) (Result, bool) {
	if e == nil || !isDeliveryReport(&e.Header) {
		return Result{}, false
	}
	var (
		status []byte
		human  strings.Builder
		orig   originalMessage
	)
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
			if human.Len() < maxPartBytes {
				human.Write(p.body)
				human.WriteByte('\n')
			}
		}
	}
	if status == nil {
		return Result{}, false
	}
	recipients := parseDeliveryStatus(status, human.String())
	if orig.messageID == "" {
		orig = quotedOriginal(human.String())
	}
	return bounceResult(recipients, orig)
}

// bounceResult builds the Result of a notice from its recipients (failed or
// delayed only); ok is false when none is left.
func bounceResult(recipients []Recipient, orig originalMessage) (Result, bool) {
	kept := recipients[:0]
	failed := false
	for _, r := range recipients {
		switch r.Action {
		case "failed":
			failed = true
		case "delayed":
		default:
			continue
		}
		kept = append(kept, r)
	}
	if len(kept) == 0 {
		return Result{}, false
	}
	res := Result{Class: Delayed, Recipients: kept, OriginalMessageID: orig.messageID, Automatic: true}
	if failed {
		res.Class = Bounce
	}
	res.OriginalTo = orig.to
	if len(res.OriginalTo) == 0 {
		for _, r := range kept {
			res.OriginalTo = appendUnique(res.OriginalTo, r.Address)
		}
	}
	return res, true
}

// dsnField is one field of a message/delivery-status body, unfolded.
type dsnField struct{ name, value string }

// perRecipientFields are the RFC 3464 §2.3 fields; one of them before any
// Final-Recipient starts a recipient block even without a blank line.
var perRecipientFields = map[string]bool{
	"original-recipient": true, "final-recipient": true, "action": true, "status": true,
	"remote-mta": true, "diagnostic-code": true, "last-attempt-date": true,
	"final-log-id": true, "will-retry-until": true,
}

// dsnGroups splits a message/delivery-status body into blocks of fields
// (RFC 3464 §2.1: the per-message block, then one per recipient, separated
// by blank lines), unfolding continuation lines (RFC 5322 §2.2.3).
func dsnGroups(body []byte) [][]dsnField {
	var groups [][]dsnField
	var cur []dsnField
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64*1024), maxPartBytes)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			if len(cur) > 0 {
				groups = append(groups, cur)
				cur = nil
			}
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && len(cur) > 0 {
			cur[len(cur)-1].value += " " + strings.TrimSpace(line)
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		cur = append(cur, dsnField{strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(value)})
	}
	if len(cur) > 0 {
		groups = append(groups, cur)
	}
	return groups
}

// dsnRecipient is one per-recipient block as read.
type dsnRecipient struct {
	final, original, action, status, diagnostic string
}

// parseDeliveryStatus reads the per-recipient blocks of a
// message/delivery-status body. A block starts at a blank line, or at a
// second Final-Recipient / Original-Recipient in one block (reports that
// run recipients together). human is the report's text part, searched for
// a recipient's words when its block has no Diagnostic-Code.
func parseDeliveryStatus(body []byte, human string) []Recipient {
	var blocks []dsnRecipient
	for _, g := range dsnGroups(body) {
		var cur *dsnRecipient
		flush := func() {
			if cur != nil && (cur.final != "" || cur.original != "") && len(blocks) < maxRecipients {
				blocks = append(blocks, *cur)
			}
			cur = nil
		}
		for _, f := range g {
			if !perRecipientFields[f.name] {
				continue
			}
			if cur == nil {
				cur = &dsnRecipient{}
			}
			switch f.name {
			case "final-recipient":
				if cur.final != "" {
					flush()
					cur = &dsnRecipient{}
				}
				cur.final = f.value
			case "original-recipient":
				if cur.original != "" || (cur.final != "" && cur.action != "") {
					flush()
					cur = &dsnRecipient{}
				}
				cur.original = f.value
			case "action":
				cur.action = f.value
			case "status":
				cur.status = f.value
			case "diagnostic-code":
				cur.diagnostic = f.value
			}
		}
		flush()
	}
	var out []Recipient
	for _, b := range blocks {
		addr := dsnAddress(b.final)
		if !strings.Contains(addr, "@") {
			if o := dsnAddress(b.original); strings.Contains(o, "@") {
				addr = o
			}
		}
		if addr == "" {
			continue
		}
		r := Recipient{Address: addr}
		if sc, ok := parseStatus(b.status); ok {
			r.Status = sc.String()
		}
		r.Action = strings.ToLower(strings.TrimSpace(firstWord(b.action)))
		if r.Action == "" {
			switch {
			case strings.HasPrefix(r.Status, "4"):
				r.Action = "delayed"
			case strings.HasPrefix(r.Status, "5"):
				r.Action = "failed"
			}
		}
		diag := stripType(b.diagnostic)
		if diag == "" {
			diag = textAbout(human, addr)
		}
		r.Diagnostic = clip(diag, maxDiagnostic)
		r.ReplyCode = leadingReplyCode(diag)
		if r.Status == "" {
			if codes := statusCodes(diag); len(codes) > 0 {
				r.Status = codes[0].String()
			}
		}
		r.Reason, r.Hard = reasonOf(r.Status, diag, r.Action != "failed")
		out = append(out, r)
	}
	return out
}

// leadingReplyCode returns the reply code a diagnostic starts with (as RFC
// 3464 §2.3.6 writes it: "smtp; 550 5.1.1 ..."), else the first one in it.
func leadingReplyCode(diag string) string {
	d := strings.TrimSpace(diag)
	if len(d) >= 3 && (d[0] == '4' || d[0] == '5') && isDigit(d[1]) && isDigit(d[2]) && (len(d) == 3 || !isDigit(d[3]) && d[3] != '.') {
		return d[:3]
	}
	return firstReplyCode(d)
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

func firstWord(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return ""
}

// stripType removes the type of an RFC 3464 typed field ("rfc822;",
// "smtp;", "X-Postfix;", "utf-8;").
func stripType(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, ';'); i > 0 && i < 20 && !strings.ContainsAny(v[:i], " <@\t") {
		v = v[i+1:]
	}
	return strings.TrimSpace(v)
}

// dsnAddress reads the address of a Final-Recipient / Original-Recipient
// value: type removed, angle brackets and comments dropped, lower-cased.
func dsnAddress(v string) string {
	v = stripType(v)
	if m := addressRe.FindString(v); m != "" {
		return normalizeAddress(m)
	}
	v = strings.Trim(strings.TrimSpace(v), "<>")
	return strings.ToLower(v)
}

// addressRe matches an addr-spec in running text (a dot-atom local part;
// the quoted form is too rare in notices to be worth its false matches).
var addressRe = regexp.MustCompile("[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+")

// normalizeAddress trims what running text leaves around an address and
// lower-cases it.
func normalizeAddress(a string) string {
	a = strings.Trim(a, ".'`")
	return strings.ToLower(a)
}

// originalMessage is what a notice shows of the message it returns.
type originalMessage struct {
	messageID string
	to        []string
}

// readOriginal reads the header of a returned message (message/rfc822 or
// text/rfc822-headers body).
func readOriginal(body []byte) originalMessage {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(body)))
	if err != nil && h.Len() == 0 {
		return quotedOriginal(string(body))
	}
	return originalFromHeader(mail.Header{Header: message.Header{Header: h}})
}

// originalFromHeader takes the Message-ID and recipients of a returned
// message's header.
func originalFromHeader(h mail.Header) originalMessage {
	var o originalMessage
	o.messageID = trimID(h.Get("Message-Id"))
	for _, k := range []string{"To", "X-Original-To", "Original-Rcpt-To"} {
		for _, v := range h.Values(k) {
			for _, a := range addressRe.FindAllString(v, 50) {
				o.to = appendUnique(o.to, normalizeAddress(a))
			}
		}
	}
	return o
}

// trimID returns a Message-ID without angle brackets and white space.
func trimID(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			return strings.TrimSpace(v[i+1 : i+j])
		}
	}
	return strings.Trim(firstWord(v), "<>")
}

// quotedHeaderRe finds a Message-ID or To field quoted in a notice's text.
var (
	quotedIDRe = regexp.MustCompile(`(?im)^[ \t>]*message-id:[ \t]*(?:\r?\n[ \t]+)?(<[^>\s]+>|[^\s<>]+@[^\s<>]+)`)
	quotedToRe = regexp.MustCompile(`(?im)^[ \t>]*(?:to|x-original-to):[ \t]*(.*(?:\r?\n[ \t]+.*)*)`)
)

// quotedOriginal finds the original Message-ID and To quoted in a notice's
// text (qmail, Exim and Yahoo copy the returned message below a marker;
// Exchange lists "Original message headers:"). Only the text after the
// marker is searched when there is one, so the notice's own headers quoted
// above it are not mistaken for the original's.
func quotedOriginal(text string) originalMessage {
	var o originalMessage
	if i := copyMarker(text); i >= 0 {
		text = text[i:]
	}
	if m := quotedIDRe.FindStringSubmatch(text); m != nil {
		o.messageID = trimID(m[1])
	}
	if m := quotedToRe.FindStringSubmatch(text); m != nil {
		for _, a := range addressRe.FindAllString(m[1], 50) {
			o.to = appendUnique(o.to, normalizeAddress(a))
		}
	}
	return o
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}
