// Package mailtest reads messages in tests: it parses a message into its
// MIME tree with the standard library (net/mail, mime/multipart) and
// decodes every leaf body, whatever its Content-Transfer-Encoding (7bit,
// 8bit, binary, quoted-printable, base64; RFC 2045 §6). Tests that look at
// what a reader would see use it instead of decoding base64 themselves, so
// that they hold whichever encoding the renderer chose.
package mailtest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
)

// Part is one MIME entity: a multipart's children, or a leaf's decoded
// body.
type Part struct {
	Header    textproto.MIMEHeader
	MediaType string            // lower-case, e.g. "text/html"
	Params    map[string]string // Content-Type parameters
	Encoding  string            // Content-Transfer-Encoding, lower-case ("7bit" when absent)
	Body      []byte            // the decoded body of a leaf, as sent (CRLF line ends kept)
	Parts     []*Part           // the children of a multipart
}

// Parse reads a complete message (header, blank line, body).
func Parse(data []byte) (*Part, error) {
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("mailtest: %w", err)
	}
	return readPart(textproto.MIMEHeader(m.Header), m.Body)
}

func readPart(h textproto.MIMEHeader, body io.Reader) (*Part, error) {
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain; charset=us-ascii" // RFC 2045 §5.2
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return nil, fmt.Errorf("mailtest: Content-Type %q: %w", ct, err)
	}
	p := &Part{Header: h, MediaType: mt, Params: params, Encoding: strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding")))}
	if p.Encoding == "" {
		p.Encoding = "7bit"
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			c, err := mr.NextRawPart() // raw: no quoted-printable decoding behind our back
			if errors.Is(err, io.EOF) {
				return p, nil
			}
			if err != nil {
				return nil, fmt.Errorf("mailtest: %s: %w", mt, err)
			}
			child, err := readPart(c.Header, c)
			if err != nil {
				return nil, err
			}
			p.Parts = append(p.Parts, child)
		}
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		return nil, fmt.Errorf("mailtest: %s: %w", mt, err)
	}
	if p.Body, err = Decode(p.Encoding, raw); err != nil {
		return nil, fmt.Errorf("mailtest: %s: %w", mt, err)
	}
	return p, nil
}

// Decode undoes a Content-Transfer-Encoding (RFC 2045 §6): base64 and
// quoted-printable are decoded, 7bit, 8bit and binary bodies are returned
// as they are; anything else is an error.
func Decode(encoding string, raw []byte) ([]byte, error) {
	switch strings.ToLower(encoding) {
	case "base64":
		clean := bytes.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, raw)
		return base64.StdEncoding.DecodeString(string(clean))
	case "quoted-printable":
		return io.ReadAll(quotedprintable.NewReader(bytes.NewReader(raw)))
	case "", "7bit", "8bit", "binary":
		return raw, nil
	}
	return nil, fmt.Errorf("unknown Content-Transfer-Encoding %q", encoding)
}

// Leaves returns the leaf parts in order.
func (p *Part) Leaves() []*Part {
	if p.Parts == nil {
		return []*Part{p}
	}
	var out []*Part
	for _, c := range p.Parts {
		out = append(out, c.Leaves()...)
	}
	return out
}

// Attachment reports whether the part is an attachment (Content-Disposition).
func (p *Part) Attachment() bool {
	d, _, _ := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
	return d == "attachment"
}

// Find returns the first leaf of mediaType that is not an attachment, or nil.
func (p *Part) Find(mediaType string) *Part {
	for _, l := range p.Leaves() {
		if l.MediaType == mediaType && !l.Attachment() {
			return l
		}
	}
	return nil
}

// Text is the body as text with line ends as LF (CRLF is the wire form of
// a line end in text, RFC 2046 §4.1.1).
func (p *Part) Text() string {
	return strings.ReplaceAll(string(p.Body), "\r\n", "\n")
}
