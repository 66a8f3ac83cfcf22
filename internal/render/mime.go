package render

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/kizuna-alumni/kizuna/internal/address"
	"github.com/kizuna-alumni/kizuna/internal/token"
)

// mimeSlot is a per-recipient part of the MIME skeleton.
type mimeSlot uint8

const (
	mTo mimeSlot = iota
	mSubject
	mDate
	mMessageID
	mListUnsubscribe
	mReplyTo
	mText
	mHTML
	mICS
	numMIMESlots
)

// The Content-Transfer-Encoding values of the body parts: slots, not
// markers, cut out of the skeleton after it is written (splitEncodings).
const (
	mEncText mimeSlot = numMIMESlots + iota
	mEncHTML
	mEncICS
)

var mimeCodes = [numMIMESlots]string{"HDRTO", "HDRSUBJECT", "HDRDATE", "HDRMSGID", "HDRLISTUNSUB", "HDRREPLYTO", "BODYTEXT", "BODYHTML", "BODYICS"}

// skeleton is the go-mail output for one locale split at its slots.
type skeleton struct {
	lits  []string
	slots []mimeSlot
}

// mimeMarker is the placeholder of a MIME slot. Body markers are padded to a
// multiple of three bytes so that their base64 form is a fixed string.
func (p *Prepared) mimeMarker(s mimeSlot) string {
	m := "KZ" + p.ph.nonce + mimeCodes[s]
	for (len(m)+2)%3 != 0 {
		m += "Q"
	}
	return m + "ZK"
}

// buildSkeleton writes the message once with go-mail, with markers where
// recipient headers and bodies go, and splits the result at the markers.
func (p *Prepared) buildSkeleton(lt *localeTemplate) (*skeleton, error) {
	m := gomail.NewMsg(gomail.WithNoDefaultUserAgent(), gomail.WithCharset(gomail.CharsetUTF8), gomail.WithEncoding(gomail.EncodingB64))
	// From and Reply-To are written here, not by go-mail, so that every
	// header is encoded by appendEncodedWords and every address quoted by
	// internal/address.
	m.SetGenHeaderPreformatted("From", string(appendAddress(nil, len("From: "), cleanHeader(p.from.Name), p.from.Address)))
	mk := p.mimeMarker
	m.SetGenHeaderPreformatted("To", mk(mTo))
	m.SetGenHeaderPreformatted(gomail.HeaderSubject, mk(mSubject))
	m.SetGenHeader(gomail.HeaderDate, mk(mDate))
	m.SetGenHeader(gomail.HeaderMessageID, mk(mMessageID))
	if p.inLocal != "" {
		m.SetGenHeaderPreformatted("Reply-To", mk(mReplyTo))
	} else if p.c.ReplyTo != "" {
		rt, err := mail.ParseAddress(p.c.ReplyTo)
		if err != nil {
			return nil, fmt.Errorf("reply_to %q: %w", p.c.ReplyTo, err)
		}
		m.SetGenHeaderPreformatted("Reply-To", string(appendAddress(nil, len("Reply-To: "), cleanHeader(rt.Name), rt.Address)))
	}
	m.SetGenHeaderPreformatted(gomail.HeaderListUnsubscribe, mk(mListUnsubscribe))
	m.SetListUnsubscribePost()
	m.SetGenHeaderPreformatted("List-Id", "<"+p.c.ID+"."+p.fromDomain+">")
	// CAMPAIGN-ID:RUN-NUMBER:kizuna:FROM-DOMAIN (SPEC.md, Messages): Gmail's
	// Postmaster Tools report complaints per Feedback-ID identifier.
	m.SetGenHeaderPreformatted("Feedback-ID", p.c.ID+":"+strconv.Itoa(p.opts.RunNumber)+":kizuna:"+p.fromDomain)
	if p.opts.Test {
		m.SetGenHeaderPreformatted("X-Kizuna-Test", "1")
	} else {
		m.SetBulk()
	}
	m.SetBodyString(gomail.TypeTextPlain, mk(mText))
	m.AddAlternativeString(gomail.TypeTextHTML, mk(mHTML))
	if p.cal != nil {
		// The method parameter must equal the object's METHOD (RFC 6047 §2.4).
		m.AddAlternativeString(gomail.ContentType("text/calendar; method="+p.cal.method), mk(mICS))
		if err := m.AttachReader("invite.ics", strings.NewReader(mk(mICS)), gomail.WithFileContentType("application/ics")); err != nil {
			return nil, err
		}
	}
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("write MIME skeleton: %w", err)
	}
	// A value folded before its first word leaves "Name: " at the end of
	// a line: drop that space (go-mail writes "Name: value").
	out := strings.ReplaceAll(buf.String(), ": \r\n ", ":\r\n ")
	out, err := shortenBoundaries(out)
	if err != nil {
		return nil, err
	}
	markers := map[string]mimeSlot{}
	for s := mimeSlot(0); s < numMIMESlots; s++ {
		if s >= mText {
			markers[base64.StdEncoding.EncodeToString([]byte(mk(s)))] = s
		} else {
			markers[mk(s)] = s
		}
	}
	sk := &skeleton{}
	for {
		at, which, n := -1, mimeSlot(0), 0
		for text, s := range markers {
			if i := strings.Index(out, text); i >= 0 && (at < 0 || i < at) {
				at, which, n = i, s, len(text)
			}
		}
		if at < 0 {
			break
		}
		sk.lits = append(sk.lits, out[:at])
		sk.slots = append(sk.slots, which)
		out = out[at+n:]
	}
	sk.lits = append(sk.lits, out)
	want := 8
	if p.inLocal == "" {
		want--
	}
	if p.cal != nil {
		want += 2
	}
	if len(sk.slots) != want {
		return nil, fmt.Errorf("internal: MIME skeleton has %d slots, want %d", len(sk.slots), want)
	}
	return splitEncodings(sk)
}

// splitEncodings turns the "Content-Transfer-Encoding: base64" that
// go-mail writes in each body part's header into a slot, so that each copy
// says how its body is encoded.
func splitEncodings(sk *skeleton) (*skeleton, error) {
	const name = "Content-Transfer-Encoding: "
	out := &skeleton{}
	for i, sl := range sk.slots {
		lit := sk.lits[i]
		if sl >= mText && sl <= mICS {
			at := strings.LastIndex(lit, name+"base64\r\n")
			if at < 0 {
				return nil, fmt.Errorf("internal: MIME skeleton part %s has no transfer encoding", mimeCodes[sl])
			}
			out.lits = append(out.lits, lit[:at+len(name)])
			out.slots = append(out.slots, mEncText+(sl-mText))
			lit = lit[at+len(name)+len("base64"):]
		}
		out.lits = append(out.lits, lit)
		out.slots = append(out.slots, sl)
	}
	out.lits = append(out.lits, sk.lits[len(sk.lits)-1])
	return out, nil
}

// appendMIME writes the complete message of s; eight reports whether a
// part went as 8bit (the relay must offer 8BITMIME).
func (p *Prepared) appendMIME(dst []byte, s *state, b *buffers, msgID string) (out []byte, eight bool) {
	sk := s.lt.mime
	enc := [3]encodedPart{
		encodePart(s.lt.enc[0], s.lt.asIs[0], s.v, b.text),
		encodePart(s.lt.enc[1], s.lt.asIs[1], s.v, b.html),
		encodePart(s.lt.enc[2], nil, s.v, b.ics),
	}
	for _, e := range enc {
		eight = eight || e.label == "8bit"
	}
	trim := false
	for i, sl := range sk.slots {
		lit := sk.lits[i]
		if trim {
			// go-mail ends a base64 body with CRLF before the CRLF of the
			// delimiter (RFC 2046 §5.1.1); for any other encoding that
			// line break would belong to the body.
			lit, trim = strings.TrimPrefix(lit, "\r\n"), false
		}
		dst = append(dst, lit...)
		switch sl {
		case mTo:
			dst = appendAddress(dst, len("To: "), cleanHeader(fullName(s.r.FamilyName, s.r.GivenName, s.lt.locale)), s.r.SendTo)
		case mSubject:
			dst = appendHeaderText(dst, len("Subject: "), s.subject)
		case mDate:
			dst = s.now.AppendFormat(dst, time.RFC1123Z)
		case mMessageID:
			dst = append(append(append(dst, '<'), msgID...), '>')
		case mListUnsubscribe:
			dst = append(append(append(dst, '<'), s.v[fUnsubscribe]...), '>')
			if p.inLocal != "" {
				dst = append(dst, ",\r\n <mailto:"...)
				dst = append(dst, p.inboundAddr("+u.", token.Unsubscribe, s.r.DeliveryID)...)
				dst = append(dst, '>')
			}
		case mReplyTo:
			dst = address.AppendQuoted(dst, p.inboundAddr("+", token.Reply, s.r.DeliveryID))
		case mText, mHTML, mICS:
			e := enc[sl-mText]
			dst = appendBody(dst, e, [...][]byte{b.text, b.html, b.ics}[sl-mText])
			trim = e.enc != encBase64
		case mEncText, mEncHTML, mEncICS:
			dst = append(dst, enc[sl-mEncText].label...)
		}
	}
	last := sk.lits[len(sk.lits)-1]
	if trim {
		last = strings.TrimPrefix(last, "\r\n")
	}
	return append(dst, last...), eight
}

// appendBase64Lines writes base64 in lines of 76 characters (RFC 2045
// §6.8) separated by CRLF, without a final line break.
func appendBase64Lines(dst, src []byte) []byte {
	const perLine = 57 // bytes per 76-character line
	for len(src) > 0 {
		n := min(len(src), perLine)
		dst = base64.StdEncoding.AppendEncode(dst, src[:n])
		src = src[n:]
		if len(src) > 0 {
			dst = append(dst, '\r', '\n')
		}
	}
	return dst
}

// boundaryParamRE finds the boundary parameters go-mail writes (60
// lower-case hex digits, 240 random bits).
var boundaryParamRE = regexp.MustCompile(`boundary=([0-9a-f]+)`)

// shortenBoundaries replaces every multipart boundary of msg by one of 32
// random hex digits (128 bits), different for each multipart entity: a
// boundary only has to be absent from the parts it delimits (RFC 2046
// §5.1.1), which 128 random bits assure as well as 240, and each of its
// four or more occurrences weighs 28 octets less.
func shortenBoundaries(msg string) (string, error) {
	for _, m := range boundaryParamRE.FindAllStringSubmatch(msg, -1) {
		if len(m[1]) <= 32 {
			continue
		}
		var r [16]byte
		if _, err := rand.Read(r[:]); err != nil {
			return "", fmt.Errorf("MIME boundary: %w", err)
		}
		msg = strings.ReplaceAll(msg, m[1], hex.EncodeToString(r[:]))
	}
	return msg, nil
}
