package render

import (
	"bytes"
	"mime/quotedprintable"
	"strings"

	"github.com/kizuna-alumni/kizuna/internal/token"
)

// Content-Transfer-Encoding of the body parts (RFC 2045 §6, RFC 6152).
//
// Prepare chooses one encoding per part for each (campaign version,
// locale), from the compiled template, never per recipient:
//
//   - as it is (7bit or 8bit) when the relay offers 8BITMIME
//     (Options.EightBitMIME) and every line of the part stays within
//     maxLine octets with slotAllowance octets for each recipient value on
//     it (linkAllowance for a link);
//   - else quoted-printable (RFC 2045 §6.7) when that is smaller than
//     base64 for the template: mostly-ASCII parts (English);
//   - else base64 (RFC 2045 §6.8): Japanese text in UTF-8 is 3 octets per
//     character and 9 in quoted-printable.
//
// A part sent as it is is labelled 7bit when all its octets are ASCII and
// 8bit otherwise (the same octets either way), its line ends written as
// CRLF (a CR or LF alone in a recipient's value becomes CRLF, so no bare
// CR or LF reaches the body, RFC 5322 §2.3). The allowance is a bound, not
// a promise: a recipient whose values still make a line longer than
// maxLine, or bring a NUL, gets that part in base64 — a correct, heavier
// message — and nothing invalid is ever written.
type transferEncoding uint8

const (
	encBase64 transferEncoding = iota
	encQuotedPrintable
	encAsIs // 7bit or 8bit
	// encAsIsClean is encAsIs for a copy known to need no more than LF
	// → CRLF (asIsTemplate.valuesFit).
	encAsIsClean
)

const (
	// maxLine is the longest line of a body, CRLF excluded (RFC 5322
	// §2.1.1; RFC 2045 §2.7, §2.8).
	maxLine = 998
	// slotAllowance is the room Prepare counts for one recipient value
	// (a name, a department, a date, an e-mail address) on a line: 256
	// octets, about 85 Japanese characters HTML-escaped.
	slotAllowance = 256
)

// allowance is the room Prepare counts on a line for a value of f: a URL
// that Kizuna builds (unsubscribe, open, RSVP, a link target) is measured
// at its longest (linkBounds), any other recipient value is counted at
// slotAllowance.
func (p *Prepared) allowance(f field, links []int) int {
	switch {
	case f == fBreak:
		return 0
	case f >= fLink && int(f-fLink) < len(links):
		return links[f-fLink]
	case f == fUnsubscribe || f == fOpen || f == fRSVP:
		return len(p.opts.BaseURL) + len("/u/") + len(p.opts.Signer.Sign(token.Claims{Purpose: token.Unsubscribe, DeliveryID: 1 << 62})) + len("?a=maybe")
	}
	return slotAllowance
}

// linkBounds is the longest each link target can be once written into the
// HTML: with click tracking the tracked URL, whose token carries the
// target (each recipient value in it at slotAllowance and each campaign
// value at its length, percent-encoded);
// else the target itself, HTML-escaped.
func (p *Prepared) linkBounds(links []string) []int {
	out := make([]int, len(links))
	for i, l := range links {
		n := len(appendHTML(nil, p.ph.re.ReplaceAllString(l, "")))
		for _, m := range p.ph.re.FindAllStringSubmatchIndex(l, -1) {
			switch f, ok := fieldOf(l[m[2]:m[3]]); {
			case ok && isStatic(f):
				n += 3 * len(p.static[f]) // percent-encoded at worst
			case f == fEmail:
				// An address is ASCII, at most 254 octets (RFC 5321
				// §4.5.3.1.3), of which QueryEscape changes few.
				n += 2 * slotAllowance
			default:
				n += 3 * slotAllowance
			}
		}
		if p.clicks {
			n = len(p.opts.BaseURL) + len("/c/") + len(p.opts.Signer.Sign(token.Claims{Purpose: token.Click, DeliveryID: 1 << 62, Link: i, URL: strings.Repeat("x", n)}))
		}
		out[i] = n
	}
	return out
}

// weigh returns the length of s with every placeholder counted at its
// allowance: what a line of s can grow to for any recipient within the
// allowances.
func (p *Prepared) weigh(links []int) func(string) int {
	return func(s string) int {
		n := len(s)
		for _, m := range p.ph.re.FindAllStringSubmatchIndex(s, -1) {
			if f, ok := fieldOf(s[m[2]:m[3]]); ok {
				n += p.allowance(f, links) - (m[1] - m[0])
			}
		}
		return n
	}
}

// longestLine is the longest line of c in octets with every slot counted
// at its allowance.
func (c *compiled) longestLine(allow func(field) int) int {
	longest, line := 0, 0
	add := func(lit string) {
		for i := 0; i < len(lit); i++ {
			if lit[i] == '\n' {
				longest, line = max(longest, line), 0
				continue
			}
			line++
		}
	}
	for i, sl := range c.slots {
		add(c.lits[i])
		if sl.f == fBreak {
			add("\n")
		} else {
			line += allow(sl.f)
		}
	}
	add(c.lits[len(c.lits)-1])
	return max(longest, line)
}

// chooseEncoding picks a part's encoding from its template (literals with
// the allowances of longestLine) or, for the calendar object, a sample.
func chooseEncoding(eightBit bool, longest int, sample []byte) transferEncoding {
	if eightBit && longest <= maxLine {
		return encAsIs
	}
	if qpLen(sample) < base64Len(len(sample)) {
		return encQuotedPrintable
	}
	return encBase64
}

// qpLen estimates the quoted-printable length of b: three octets for each
// octet that is not printable ASCII or is "=", plus a soft line break
// ("=" CRLF) every 75 octets.
func qpLen(b []byte) int {
	n := 0
	for _, c := range b {
		if c == '\n' || c == '\t' || c >= ' ' && c < 0x7f && c != '=' {
			n++
		} else {
			n += 3
		}
	}
	return n + n/75*3
}

// base64Len is the base64 length of n octets in lines of 76 with CRLF.
func base64Len(n int) int {
	e := (n + 2) / 3 * 4
	return e + e/76*2
}

// compiledSample is c with every slot empty: the octets that every
// recipient's copy shares, to weigh quoted-printable against base64.
func (c *compiled) compiledSample() []byte {
	var b []byte
	for _, l := range c.lits {
		b = append(b, l...)
	}
	return b
}

// asIs reports how body can go as it is: ok when no line (line ends
// counted as CRLF) is longer than maxLine and it has no NUL; eight when
// some octet is not ASCII.
func asIs(body []byte) (ok, eight bool) {
	line := 0
	for i, c := range body {
		switch {
		case c == '\n':
			line = 0
			continue
		case c == '\r':
			if i+1 < len(body) && body[i+1] == '\n' {
				continue
			}
			line = 0
			continue
		case c == 0:
			return false, eight
		case c >= 0x80:
			eight = true
		}
		line++
		if line > maxLine {
			return false, eight
		}
	}
	return true, eight
}

// appendAsIs writes body with every line end (CRLF, LF or CR alone) as
// CRLF.
func appendAsIs(dst, body []byte) []byte {
	for len(body) > 0 {
		i := bytes.IndexAny(body, "\r\n")
		if i < 0 {
			return append(dst, body...)
		}
		dst = append(append(dst, body[:i]...), '\r', '\n')
		if body[i] == '\r' && i+1 < len(body) && body[i+1] == '\n' {
			i++
		}
		body = body[i+1:]
	}
	return dst
}

// byteAppender is an io.Writer that appends to a slice.
type byteAppender struct{ b []byte }

func (a *byteAppender) Write(p []byte) (int, error) { a.b = append(a.b, p...); return len(p), nil }

// appendQuotedPrintable writes body in quoted-printable (RFC 2045 §6.7,
// mime/quotedprintable in text mode: line ends become CRLF, lines at most
// 76 characters), without a final line break.
func appendQuotedPrintable(dst, body []byte) []byte {
	a := &byteAppender{b: dst}
	w := quotedprintable.NewWriter(a)
	w.Write(body) // a byteAppender never fails
	w.Close()
	return a.b
}

// encodedPart is one body part as a recipient's copy writes it.
type encodedPart struct {
	label string // the Content-Transfer-Encoding value
	enc   transferEncoding
}

// encodePart decides how body goes for this copy: the version's choice,
// or base64 when the body cannot go as it is. t describes the part's
// template (nil: unknown, the body is scanned), v the copy's values.
func encodePart(enc transferEncoding, t *asIsTemplate, v values, body []byte) encodedPart {
	switch enc {
	case encAsIs:
		if t != nil {
			if fit, eight := t.valuesFit(v); fit {
				if t.eight || eight {
					return encodedPart{"8bit", encAsIsClean}
				}
				return encodedPart{"7bit", encAsIsClean}
			}
		}
		ok, eight := asIs(body)
		switch {
		case !ok:
			return encodedPart{"base64", encBase64}
		case eight:
			return encodedPart{"8bit", encAsIs}
		}
		return encodedPart{"7bit", encAsIs}
	case encQuotedPrintable:
		return encodedPart{"quoted-printable", encQuotedPrintable}
	}
	return encodedPart{"base64", encBase64}
}

// appendBody writes body in the encoding e.
func appendBody(dst []byte, e encodedPart, body []byte) []byte {
	switch e.enc {
	case encAsIs:
		return appendAsIs(dst, body)
	case encAsIsClean:
		return appendCRLF(dst, body)
	case encQuotedPrintable:
		return appendQuotedPrintable(dst, body)
	}
	return appendBase64Lines(dst, body)
}

// asIsTemplate is what Prepare learns about a part chosen to go as it is,
// so that a copy of it is written without being scanned: the template's
// literals have no CR, LF only as line ends, no NUL and every line within
// maxLine with each slot at its allowance (chooseEncoding); a copy is as
// valid once every recipient value is within its slot's allowance and
// brings no CR, LF or NUL (valuesFit), which looks at the values only
// (tens of octets) instead of the whole body (kilobytes).
type asIsTemplate struct {
	c     *compiled
	allow []int // by field: the allowance of a value of that field
	eight bool  // the literals hold octets above 127
}

// newAsIsTemplate describes c for valuesFit; nil when c's literals hold
// a CR or a NUL (then each copy is scanned).
func newAsIsTemplate(c *compiled, allow func(field) int) *asIsTemplate {
	t := &asIsTemplate{c: c}
	for _, sl := range c.slots {
		for int(sl.f) >= len(t.allow) {
			t.allow = append(t.allow, 0)
		}
		t.allow[sl.f] = allow(sl.f)
	}
	for _, l := range c.lits {
		for i := 0; i < len(l); i++ {
			switch {
			case l[i] == '\r' && (i+1 == len(l) || l[i+1] != '\n'), l[i] == 0:
				return nil
			case l[i] >= 0x80:
				t.eight = true
			}
		}
	}
	return t
}

// valuesFit reports whether every value c's slots write is within its
// allowance and free of CR, LF and NUL (then the copy can go as it is
// without a look at its bytes), and whether some value has an octet above
// 127. A value written escaped is counted at its escaped length at worst.
func (t asIsTemplate) valuesFit(v values) (fit, eight bool) {
	for _, sl := range t.c.slots {
		if sl.f == fBreak {
			continue
		}
		s := v[sl.f]
		n := len(s)
		for i := 0; i < len(s); i++ {
			switch c := s[i]; {
			case c == '\r' || c == '\n' || c == 0:
				return false, false
			case c >= 0x80:
				eight = true
			case c == '&' || c == '<' || c == '>' || c == '"' || c == '\'':
				n += 4 // &#39;
			}
		}
		switch sl.esc {
		case escURLStart, escURLPart, escQuery, escLinkStart:
			if !isURLField(sl.f) {
				n = 3 * n // percent-encoded at worst
			}
		}
		if n > t.allow[sl.f] {
			return false, false
		}
	}
	return true, eight
}

// appendCRLF writes body with each LF as CRLF; body has no CR but those
// of CRLF pairs (asIsTemplate).
func appendCRLF(dst, body []byte) []byte {
	for {
		i := bytes.IndexByte(body, '\n')
		if i < 0 {
			return append(dst, body...)
		}
		dst = append(dst, body[:i]...)
		if i == 0 || body[i-1] != '\r' {
			dst = append(dst, '\r')
		}
		dst = append(dst, '\n')
		body = body[i+1:]
	}
}
