package render

import (
	"fmt"
	"html"
	"net/url"
	"strings"
	"unicode/utf8"
)

// escaping says how a value is written where its placeholder stood.
type escaping uint8

const (
	escText      escaping = iota // plain text: written as it is
	escHTML                      // HTML text or a quoted attribute value
	escURLStart                  // the start of an href/src value
	escURLPart                   // inside an href/src value, after its start
	escQuery                     // inside a URL that is not HTML (a link target)
	escLinkStart                 // the start of a link target
)

// slot is a place for a field's value.
type slot struct {
	f   field
	esc escaping
}

// compiled is literal text interleaved with slots: lits[0] slots[0] lits[1]
// ... lits[n]. Writing it costs one copy per literal and one escape per slot.
type compiled struct {
	lits  []string
	slots []slot
}

// values holds one recipient's raw field values, indexed by field.
type values []string

// compile splits s at its placeholders. ctx gives each placeholder its
// escaping from the text before it. Static fields are resolved now from
// static, so that per recipient only recipient fields remain.
func (p *placeholders) compile(s string, ctx func(before string, at int) escaping, static values) (*compiled, error) {
	c := &compiled{}
	var lit strings.Builder
	last := 0
	for _, m := range p.re.FindAllStringSubmatchIndex(s, -1) {
		f, ok := fieldOf(s[m[2]:m[3]])
		if !ok {
			return nil, fmt.Errorf("internal: unknown placeholder %q", s[m[0]:m[1]])
		}
		lit.WriteString(s[last:m[0]])
		last = m[1]
		sl := slot{f: f, esc: ctx(s, m[0])}
		if isStatic(f) {
			lit.Write(appendValue(nil, sl, static[f]))
			continue
		}
		c.lits = append(c.lits, lit.String())
		lit.Reset()
		c.slots = append(c.slots, sl)
	}
	lit.WriteString(s[last:])
	c.lits = append(c.lits, lit.String())
	return c, nil
}

// appendTo writes c with v's values into dst.
func (c *compiled) appendTo(dst []byte, v values) []byte {
	for i, sl := range c.slots {
		dst = append(dst, c.lits[i]...)
		dst = appendValue(dst, sl, v[sl.f])
	}
	return append(dst, c.lits[len(c.lits)-1]...)
}

// size estimates the output length for buffer sizing.
func (c *compiled) size() int {
	n := 0
	for _, l := range c.lits {
		n += len(l)
	}
	return n + 64*len(c.slots)
}

func appendValue(dst []byte, sl slot, v string) []byte {
	if sl.f == fBreak {
		if sl.esc == escHTML {
			return append(dst, "<br />"...)
		}
		return append(dst, '\n')
	}
	switch sl.esc {
	case escText:
		return append(dst, v...)
	case escHTML:
		return appendHTML(dst, v)
	case escURLStart:
		if isURLField(sl.f) {
			return appendHTML(dst, v)
		}
		return appendHTML(dst, url.PathEscape(v))
	case escURLPart:
		if isURLField(sl.f) {
			return appendHTML(dst, v)
		}
		return appendHTML(dst, url.QueryEscape(v))
	case escQuery:
		return append(dst, url.QueryEscape(v)...)
	case escLinkStart:
		if isURLField(sl.f) {
			return append(dst, v...)
		}
		return append(dst, url.QueryEscape(v)...)
	}
	panic("unknown escaping")
}

// appendHTML escapes v for HTML text and quoted attribute values.
func appendHTML(dst []byte, v string) []byte {
	last := 0
	for i := 0; i < len(v); i++ {
		var rep string
		switch v[i] {
		case '&':
			rep = "&amp;"
		case '<':
			rep = "&lt;"
		case '>':
			rep = "&gt;"
		case '"':
			rep = "&#34;"
		case '\'':
			rep = "&#39;"
		case 0:
			rep = "\uFFFD"
		default:
			continue
		}
		dst = append(dst, v[last:i]...)
		dst = append(dst, rep...)
		last = i + 1
	}
	return append(dst, v[last:]...)
}

// htmlContext finds the escaping for a placeholder at s[at:] in HTML that
// html/template and the CSS inliner wrote: inside a tag it is an attribute
// value (always quoted there, with '<' and '>' escaped), else text.
func htmlContext(s string, at int) escaping {
	before := s[:at]
	lt, gt := strings.LastIndexByte(before, '<'), strings.LastIndexByte(before, '>')
	if lt <= gt {
		return escHTML
	}
	q := strings.LastIndexAny(before, `"'`)
	if q < 1 || q < lt {
		return escHTML
	}
	name := before[lt:q]
	name = strings.TrimRight(name, "= \t\n")
	if i := strings.LastIndexAny(name, " \t\n"); i >= 0 {
		name = name[i+1:]
	}
	switch strings.ToLower(name) {
	case "href", "src", "action", "background":
		if q == at-1 {
			return escURLStart
		}
		return escURLPart
	}
	return escHTML
}

// textContext is the escaping of every placeholder in plain text.
func textContext(string, int) escaping { return escText }

// linkContext is the escaping of fields inside a link target: a URL field
// opening the target is taken whole, anything else is percent-encoded.
func linkContext(s string, at int) escaping {
	if at == 0 {
		return escLinkStart
	}
	return escQuery
}

// cleanHeader makes v safe for a header: CR, LF and other controls become
// spaces, and invalid UTF-8 is replaced.
func cleanHeader(v string) string {
	ok := utf8.ValidString(v)
	for i := 0; i < len(v) && ok; i++ {
		if v[i] < 0x20 || v[i] == 0x7f {
			ok = false
		}
	}
	if ok {
		return v
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(v, "\uFFFD"))
}

// unescapeAttr turns an attribute value as written back into its text.
func unescapeAttr(v string) string { return html.UnescapeString(v) }
