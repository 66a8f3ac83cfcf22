package classify

import (
	"bufio"
	"bytes"
	"io"
	"mime"
	"regexp"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// Limits on what Classify reads, so that hostile mail costs little.
const (
	// MaxSize is the most of a message Classify reads, in bytes; the rest
	// is ignored (the intake stores at most its own limit anyway).
	MaxSize = 16 << 20
	// maxParts bounds the MIME parts walked in one message, maxDepth
	// their nesting (multipart in multipart, message/rfc822 in those).
	maxParts = 500
	maxDepth = 16
	// maxDecoded bounds the bytes one part decodes to.
	maxDecoded = 8 << 20
)

// part is one MIME entity, read with go-message's textproto package.
type part struct {
	header    message.Header
	mediaType string            // lower-case, e.g. "text/plain"
	params    map[string]string // lower-case keys
	raw       []byte            // the body as it stands in the message
	parts     []*part           // multipart/* children
	inner     *part             // message/rfc822 or text/rfc822-headers: the enclosed message
}

// walker carries the budget of one parse.
type walker struct{ parts int }

// splitHeader cuts an entity into its header block and body at the first
// empty line. An entity with no empty line is all header when its first
// line looks like a field, else all body.
func splitHeader(b []byte) (head, body []byte) {
	if len(b) > 0 && (b[0] == '\n' || bytes.HasPrefix(b, []byte("\r\n"))) {
		_, rest, _ := bytes.Cut(b, []byte("\n"))
		return nil, rest
	}
	for i := 0; i < len(b); i++ {
		if b[i] != '\n' {
			continue
		}
		j := i + 1
		if j < len(b) && b[j] == '\r' {
			j++
		}
		if j < len(b) && b[j] == '\n' {
			return b[:i+1], b[j+1:]
		}
		if j >= len(b) {
			return b, nil
		}
	}
	if looksLikeField(b) {
		return b, nil
	}
	return nil, b
}

var fieldLine = regexp.MustCompile(`^[!-9;-~]+[ \t]*:`)

func looksLikeField(line []byte) bool { return fieldLine.Match(line) }

// readHeader parses a header block with go-message's textproto reader,
// after dropping what that reader refuses and real mail contains: an mbox
// "From " line, a leading continuation line, lines that are not fields.
func readHeader(head []byte) message.Header {
	var clean bytes.Buffer
	clean.Grow(len(head) + 2)
	started := false
	keep := false
	for len(head) > 0 {
		line, rest, _ := bytes.Cut(head, []byte("\n"))
		head = rest
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if started && keep {
				clean.Write(line)
				clean.WriteString("\r\n")
			}
			continue
		}
		keep = looksLikeField(line)
		if keep {
			started = true
			clean.Write(line)
			clean.WriteString("\r\n")
		}
	}
	clean.WriteString("\r\n")
	h, err := textproto.ReadHeader(bufio.NewReader(&clean))
	if err != nil {
		// Only the fields read before the error are in h; that is the
		// best a broken header gives.
		return message.Header{Header: h}
	}
	return message.Header{Header: h}
}

// contentType reads Content-Type leniently: mime.ParseMediaType, else the
// type before the first ";" and whatever name=value pairs can be found.
func contentType(h message.Header) (string, map[string]string) {
	v := h.Get("Content-Type")
	if strings.TrimSpace(v) == "" {
		return "text/plain", map[string]string{}
	}
	t, params, err := mime.ParseMediaType(v)
	if err == nil && t != "" {
		return strings.ToLower(t), params
	}
	typ, rest, _ := strings.Cut(v, ";")
	typ = strings.ToLower(strings.TrimSpace(typ))
	if !strings.Contains(typ, "/") {
		typ = "text/plain"
	}
	params = map[string]string{}
	for _, m := range paramRE.FindAllStringSubmatch(rest, -1) {
		k := strings.ToLower(m[1])
		if _, dup := params[k]; dup {
			continue
		}
		val := m[3]
		if m[2] == "" {
			val = m[4]
		}
		params[k] = val
	}
	return typ, params
}

var paramRE = regexp.MustCompile(`([A-Za-z0-9][A-Za-z0-9_.*-]*)\s*=\s*(?:(")([^"]*)"?|([^;\s"]+))`)

// parse reads one entity and, within the budget, its children.
func (w *walker) parse(b []byte, depth int) *part {
	head, body := splitHeader(b)
	return w.parseWith(readHeader(head), body, depth)
}

func (w *walker) parseWith(h message.Header, body []byte, depth int) *part {
	p := &part{header: h, raw: body}
	p.mediaType, p.params = contentType(p.header)
	w.parts++
	if depth >= maxDepth || w.parts > maxParts {
		return p
	}
	switch {
	case strings.HasPrefix(p.mediaType, "multipart/"):
		w.multipart(p, depth)
	case p.mediaType == "message/rfc822" || p.mediaType == "message/global":
		p.inner = w.parse(p.decoded(), depth+1)
	case p.mediaType == "text/rfc822-headers" || p.mediaType == "message/rfc822-headers":
		inner := p.decoded()
		h, _ := splitHeader(inner)
		if h == nil {
			h = inner
		}
		p.inner = &part{header: readHeader(h)}
		p.inner.mediaType, p.inner.params = contentType(p.inner.header)
	}
	return p
}

// multipart reads the children of p with go-message's multipart reader.
// A part that cannot be read ends the list; what was read is kept. A
// multipart entity without a boundary, or in which none is found, is read
// as text (RFC 2046 §5.1.3: an unrecognised subtype is treated as mixed;
// here, an unreadable one as its own text).
func (w *walker) multipart(p *part, depth int) {
	boundary := p.params["boundary"]
	if boundary == "" {
		p.mediaType = "text/plain"
		return
	}
	mr := textproto.NewMultipartReader(bytes.NewReader(p.raw), boundary)
	for w.parts <= maxParts {
		mp, err := mr.NextPart()
		if err != nil {
			break
		}
		body, err := io.ReadAll(io.LimitReader(mp, MaxSize))
		if err != nil && len(body) == 0 {
			break
		}
		p.parts = append(p.parts, w.parseWith(message.Header{Header: mp.Header}, body, depth+1))
	}
	if len(p.parts) == 0 {
		p.mediaType = "text/plain"
	}
}

// decoded is the body with its Content-Transfer-Encoding undone (by
// go-message), not yet converted from its charset. A body whose encoding
// is broken gives what could be decoded before the damage.
func (p *part) decoded() []byte {
	cte := strings.ToLower(strings.TrimSpace(p.header.Get("Content-Transfer-Encoding")))
	switch cte {
	case "", "7bit", "8bit", "binary":
		return p.raw
	}
	var h message.Header
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Transfer-Encoding", cte)
	e, err := message.New(h, bytes.NewReader(p.raw))
	if err != nil || e == nil {
		return p.raw // an unknown encoding: the bytes as they are
	}
	out, _ := io.ReadAll(io.LimitReader(e.Body, maxDecoded))
	return out
}

// text is the body decoded to UTF-8 using its charset parameter (checked
// against the bytes).
func (p *part) text() string {
	b := p.decoded()
	label := p.params["charset"]
	if label == "" && p.mediaType == "text/html" {
		label = metaCharset(b)
	}
	return decodeText(b, label)
}

var metaCharsetRE = regexp.MustCompile(`(?i)<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_:.-]+)`)

// metaCharset finds the charset an HTML document declares in a <meta>.
func metaCharset(b []byte) string {
	if len(b) > 4096 {
		b = b[:4096]
	}
	if m := metaCharsetRE.FindSubmatch(b); m != nil {
		return string(m[1])
	}
	return ""
}

// attachment says whether a part is an attachment rather than the body.
func (p *part) attachment() bool {
	d := strings.ToLower(strings.TrimSpace(p.header.Get("Content-Disposition")))
	return strings.HasPrefix(d, "attachment")
}

// walk calls fn for p and its descendants, not entering enclosed messages;
// fn returning false stops the walk.
func (p *part) walk(fn func(*part) bool) bool {
	if !fn(p) {
		return false
	}
	for _, c := range p.parts {
		if !c.walk(fn) {
			return false
		}
	}
	return true
}
