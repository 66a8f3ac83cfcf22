package render

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/tdewolff/minify/v2"
	minhtml "github.com/tdewolff/minify/v2/html"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// The lightening step: Hermes and its CSS inliner write every rule of the
// theme into the style attribute of every element it matches, and keep the
// template's indentation. lightenHTML, run once per (campaign version,
// locale) in Prepare, removes what no reader sees:
//
//  1. Inline declarations of inherited properties that the parent element
//     already computes (dropStyles), on a parsed tree (golang.org/x/net/html).
//  2. Whitespace between block-level tags and comments (but Outlook's
//     conditional comments), runs of whitespace in text, and the <style>
//     block's spacing: tdewolff/minify, configured to keep everything email
//     clients rely on (end tags, document tags, quotes, default attribute
//     values, conditional comments).
//  3. Lines: the minified document is broken again at points where a line
//     break changes nothing a reader sees (breakLines), so that an 8bit part
//     keeps its lines far under the 998 octets of RFC 5322 §2.1.1.
//
// TestLightenLooksTheSame renders every example before and after this step
// in Chromium and requires pixel-identical screenshots.

// inherited lists the CSS properties that inherit by default (CSS 2.1
// property index, CSS Text 3, CSS Fonts 3) and appear in mail themes. A
// property not listed is never dropped.
var inherited = map[string]bool{
	"color": true, "font-family": true, "font-size": true, "font-weight": true, "font-style": true,
	"font-variant": true, "line-height": true, "text-align": true, "text-indent": true,
	"text-transform": true, "letter-spacing": true, "word-spacing": true, "white-space": true,
	"overflow-wrap": true, "word-wrap": true, "word-break": true, "line-break": true,
	"-webkit-text-size-adjust": true, "-ms-text-size-adjust": true, "text-size-adjust": true,
	"visibility": true, "direction": true, "hyphens": true, "list-style": true,
	"list-style-type": true, "list-style-position": true,
}

// keepAll are elements whose inline declarations all stay: Outlook's Word
// engine does not inherit into table cells, so every cell states its own
// styles; tables likewise (older clients reset fonts at a table, as
// browsers do in quirks mode).
var keepAll = map[atom.Atom]bool{atom.Td: true, atom.Th: true, atom.Table: true}

// keepProps are inherited properties an element keeps inline because the
// user agent's stylesheet gives that element its own value (HTML Living
// Standard §15, Rendering), which would win over the inherited one.
var keepProps = map[atom.Atom][]string{
	atom.A:  {"color", "text-decoration"},
	atom.H1: {"font-size", "font-weight"}, atom.H2: {"font-size", "font-weight"}, atom.H3: {"font-size", "font-weight"},
	atom.H4: {"font-size", "font-weight"}, atom.H5: {"font-size", "font-weight"}, atom.H6: {"font-size", "font-weight"},
	atom.P: {"font-size", "font-weight"}, atom.Dl: {"font-size", "font-weight"}, atom.Dd: {"font-size", "font-weight"},
	atom.B: {"font-weight"}, atom.Strong: {"font-weight"},
	atom.Em: {"font-style"}, atom.I: {"font-style"}, atom.Cite: {"font-style"}, atom.Var: {"font-style"},
	atom.Dfn: {"font-style"}, atom.Address: {"font-style"},
	atom.Code: {"font-family", "font-size", "white-space"}, atom.Pre: {"font-family", "font-size", "white-space"},
	atom.Kbd: {"font-family", "font-size"}, atom.Samp: {"font-family", "font-size"}, atom.Tt: {"font-family", "font-size"},
	atom.Small: {"font-size"}, atom.Big: {"font-size"}, atom.Sub: {"font-size"}, atom.Sup: {"font-size"},
	atom.Center: {"text-align"}, atom.Caption: {"text-align"}, atom.Textarea: {"white-space"},
	atom.Button: {"font-family", "font-size", "color"}, atom.Input: {"font-family", "font-size", "color"},
	atom.Select: {"font-family", "font-size", "color"},
}

// decl is one CSS declaration of a style attribute.
type decl struct{ prop, value string }

// lightenHTML returns doc (a whole HTML document) without redundant inline
// declarations, minified and broken into short lines. Placeholder tokens
// (alphanumeric) pass through unchanged.
func lightenHTML(doc string, weigh func(string) int) (string, error) {
	root, err := html.Parse(strings.NewReader(doc))
	if err != nil {
		return "", fmt.Errorf("lighten HTML: %w", err)
	}
	if body := findBody(root); body != nil {
		dropUnusedColor(body)
		hoistInCells(body)
		for c := body.FirstChild; c != nil; c = c.NextSibling {
			// Nothing may rely on inheriting from <body>: Gmail drops
			// its styles.
			dropStyles(c, map[string]string{})
		}
	}
	var doctype bytes.Buffer
	for c := root.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.DoctypeNode {
			if err := html.Render(&doctype, c); err != nil {
				return "", fmt.Errorf("lighten HTML: %w", err)
			}
		}
		if c.Type == html.ElementNode {
			compactStyleElements(c)
		}
	}
	dropUnusedClasses(root, pruneSheets(root))
	spliceTbody(root)
	dropInertAttrs(root)
	var buf bytes.Buffer
	if err := html.Render(&buf, root); err != nil {
		return "", fmt.Errorf("lighten HTML: %w", err)
	}
	var out bytes.Buffer
	if err := newMinifier().Minify("text/html", &out, &buf); err != nil {
		return "", fmt.Errorf("minify HTML: %w", err)
	}
	min := out.String()
	// The minifier writes every doctype as <!doctype html>, which would
	// move a document from limited-quirks to standards mode (HTML Living
	// Standard §13.2.6.4.1): the theme's own doctype stays.
	if rest, ok := strings.CutPrefix(min, "<!doctype html>"); ok && doctype.Len() > 0 {
		min = doctype.String() + rest
	}
	return breakLines(min, weigh), nil
}

// compactStyleElements removes the spacing of every <style> element under
// n (compactCSS).
func compactStyleElements(n *html.Node) {
	if n.Type == html.ElementNode && n.DataAtom == atom.Style {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type == html.TextNode {
				c.Data = compactCSS(c.Data)
			}
		}
		return
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		compactStyleElements(c)
	}
}

// compactCSS removes the whitespace of a style sheet that carries no
// meaning: runs become one space, and none is kept next to { } ; , > or
// at either end, after ":" or before "!"; nor the ";" that ends a block's
// last declaration (CSS Syntax 3 §5.4.5). Quoted strings are copied as
// they are. It changes nothing else (tdewolff/minify's CSS minifier would
// also lower-case and unquote font family names, which not every mail
// client's CSS parser is known to read the same way).
func compactCSS(s string) string {
	out := make([]byte, 0, len(s))
	space := false
	var quote byte
	tight := func(c byte) bool { return strings.IndexByte("{};,:>", c) >= 0 }
	for i := 0; i < len(s); i++ {
		c := s[i]
		if quote != 0 {
			out = append(out, c)
			if c == '\\' && i+1 < len(s) {
				i++
				out = append(out, s[i])
			} else if c == quote {
				quote = 0
			}
			continue
		}
		switch c {
		case ' ', '\t', '\n', '\r', '\f':
			space = true
			continue
		}
		if space {
			// A space before ":" may be a descendant combinator (".a :hover").
			if len(out) > 0 && !tight(out[len(out)-1]) && (!tight(c) || c == ':') && c != '!' {
				out = append(out, ' ')
			}
			space = false
		}
		if c == '"' || c == '\'' {
			quote = c
		}
		if c == '}' && len(out) > 0 && out[len(out)-1] == ';' {
			out = out[:len(out)-1]
		}
		out = append(out, c)
	}
	return string(out)
}

// newMinifier is tdewolff/minify set up for mail: the HTML minifier keeps
// end tags, <html>/<head>/<body>, attribute quotes (html/template and the
// placeholder compiler expect double-quoted attributes), default attribute
// values (type="text/css" and the like, which some clients want) and
// special comments (Outlook's conditional comments among them). No CSS minifier is registered: style
// sheets and style attributes are compacted by compactCSS and joinStyle.
func newMinifier() *minify.M {
	m := minify.New()
	m.Add("text/html", &minhtml.Minifier{
		KeepEndTags: true, KeepDocumentTags: true, KeepQuotes: true,
		KeepSpecialComments: true, KeepDefaultAttrVals: true,
	})
	return m
}

func findBody(n *html.Node) *html.Node {
	if n.Type == html.ElementNode && n.DataAtom == atom.Body {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if b := findBody(c); b != nil {
			return b
		}
	}
	return nil
}

// dropStyles removes from n's style attribute, and its descendants', every
// declaration of an inherited property whose value n's parent already
// computes (parent: property → computed value, as declared). It keeps what
// clients need inline (keepAll, keepProps) and font sizes and line heights
// that are relative to the element's own font (em, %, …).
func dropStyles(n *html.Node, parent map[string]string) {
	if n.Type != html.ElementNode {
		return
	}
	computed := parent
	if keepAll[n.DataAtom] {
		// Outlook does not inherit into cells (nor tables): what is
		// inside one may rely only on what the cell itself declares.
		computed = map[string]string{}
	}
	for i, a := range n.Attr {
		if a.Namespace != "" || a.Key != "style" {
			continue
		}
		decls := parseStyle(a.Val)
		own := make(map[string]string, len(parent)+len(decls))
		for k, v := range computed {
			own[k] = v
		}
		fontSize := computed["font-size"] // the element's, once all its declarations apply
		for _, d := range decls {
			if d.prop == "font-size" {
				fontSize = d.value
			}
		}
		kept := decls[:0]
		for j, d := range decls {
			if duplicated(decls[j+1:], d) {
				continue // the same declaration again later: the last wins
			}
			if inherited[d.prop] {
				redundant := parent[d.prop] == d.value && !keeps(n.DataAtom, d.prop) && absolute(d, fontSize, parent)
				own[d.prop] = d.value
				if redundant {
					continue
				}
			}
			kept = append(kept, d)
		}
		computed = own
		n.Attr[i].Val = joinStyle(kept)
		if len(kept) == 0 {
			n.Attr = append(n.Attr[:i], n.Attr[i+1:]...)
		}
		break
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		dropStyles(c, computed)
	}
}

func duplicated(rest []decl, d decl) bool {
	for _, r := range rest {
		if r == d {
			return true
		}
	}
	return false
}

func keeps(a atom.Atom, prop string) bool {
	if keepAll[a] {
		return true
	}
	for _, p := range keepProps[a] {
		if p == prop {
			return true
		}
	}
	return false
}

// absolute reports whether d means the same on the element as on its
// parent: a font-size relative to the parent's (em, %, smaller) never
// does; a line-height in em or % does only when the element's font-size
// (fontSize, after all its declarations) is the parent's, absolute.
func absolute(d decl, fontSize string, parent map[string]string) bool {
	switch d.prop {
	case "font-size":
		return !relativeLength(d.value)
	case "line-height":
		return !relativeLength(d.value) || fontSize != "" && fontSize == parent["font-size"] && !relativeLength(fontSize)
	}
	return true
}

// relativeLength reports whether a CSS value depends on the element's or
// its parent's font or box (em, ex, ch, %, smaller, larger, calc(), var());
// rem is relative to the root only.
func relativeLength(v string) bool {
	v = strings.ReplaceAll(strings.ToLower(v), "rem", "")
	for _, u := range []string{"em", "ex", "ch", "%", "smaller", "larger", "calc(", "var("} {
		if strings.Contains(v, u) {
			return true
		}
	}
	return false
}

// parseStyle splits a style attribute into declarations, honouring quotes
// and parentheses (url(…;…), font names in quotes). Property names are
// lower-cased; values are trimmed.
func parseStyle(s string) []decl {
	var out []decl
	start, depth := 0, 0
	var quote byte
	flush := func(end int) {
		part := strings.TrimSpace(s[start:end])
		if k, v, ok := strings.Cut(part, ":"); ok {
			k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
			if k != "" && v != "" {
				out = append(out, decl{k, v})
			}
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case c == ';' && depth == 0:
			flush(i)
			start = i + 1
		}
	}
	flush(len(s))
	return out
}

func joinStyle(ds []decl) string {
	var b strings.Builder
	for i, d := range ds {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(d.prop)
		b.WriteByte(':')
		b.WriteString(d.value)
	}
	return b.String()
}

// lineTarget is the length breakLines aims at, each placeholder weighed at
// the longest value it may stand for (Prepared.weigh): well below the 998
// octets of RFC 5322 §2.1.1 (maxLine).
const lineTarget = 400

// blockish are the elements around whose tags a line break is invisible:
// whitespace between block boxes, table parts and at the start or end of a
// line box is removed by CSS white-space processing (CSS Text 3 §4.1), and
// in tables it is not rendered at all.
var blockish = map[atom.Atom]bool{
	atom.Html: true, atom.Head: true, atom.Body: true, atom.Title: true, atom.Meta: true, atom.Style: true, atom.Link: true,
	atom.Table: true, atom.Thead: true, atom.Tbody: true, atom.Tfoot: true, atom.Tr: true, atom.Td: true, atom.Th: true,
	atom.Caption: true, atom.Col: true, atom.Colgroup: true,
	atom.P: true, atom.Div: true, atom.Dl: true, atom.Dt: true, atom.Dd: true, atom.Ul: true, atom.Ol: true, atom.Li: true,
	atom.H1: true, atom.H2: true, atom.H3: true, atom.H4: true, atom.H5: true, atom.H6: true,
	atom.Blockquote: true, atom.Hr: true, atom.Br: true, atom.Center: true,
}

// breakLines breaks minified HTML into lines of about lineTarget octets
// (as weigh counts them),
// only where a line break changes nothing a reader sees:
//   - between two tokens when either is a tag of a block-level or table
//     element (blockish), outside <pre>, <textarea> and <title>;
//   - in place of the space between two attributes of a start tag;
//   - after a "}" or ";" of the <style> block, outside quotes.
//
// Text is never broken (a line break between two East Asian characters is
// dropped by some browsers and shown as a space by others, CSS Text 3
// §4.1.3): a paragraph longer than a line stays one line, and Prepare then
// measures it (maxLine).
func breakLines(s string, weigh func(string) int) string {
	var b strings.Builder
	b.Grow(len(s) + len(s)/lineTarget*2)
	line := 0 // length of the current line in b
	// pending is the text since the last break opportunity; sep is what
	// the opportunity holds ("" or " ") when no break is made there.
	var pending strings.Builder
	sep := ""
	opportunity := func(s string) {
		// A break at the previous opportunity when the line would grow
		// past the target.
		seg := pending.String()
		w := weigh(seg)
		if line > 0 && line+len(sep)+w > lineTarget {
			b.WriteByte('\n')
			line = 0
		} else {
			b.WriteString(sep)
			line += len(sep)
		}
		b.WriteString(seg)
		line += w
		if i := strings.LastIndexByte(seg, '\n'); i >= 0 {
			line = weigh(seg[i+1:])
		}
		pending.Reset()
		sep = s
	}
	z := html.NewTokenizer(strings.NewReader(s))
	prevBlock := false
	var lastStart atom.Atom // the last start tag: a text token right after <style> is CSS
	verbatim := 0           // depth of <pre>, <textarea>, <title>
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		raw := string(z.Raw())
		var a atom.Atom
		if tt == html.StartTagToken || tt == html.EndTagToken || tt == html.SelfClosingTagToken {
			name, _ := z.TagName()
			a = atom.Lookup(name)
		}
		block := blockish[a]
		if verbatim == 0 && (block || prevBlock) {
			opportunity("")
		}
		switch {
		case verbatim > 0:
			pending.WriteString(raw)
		case tt == html.StartTagToken || tt == html.SelfClosingTagToken:
			writeTag(raw, &pending, opportunity)
		case tt == html.TextToken && lastStart == atom.Style:
			writeCSS(raw, &pending, opportunity)
		default:
			pending.WriteString(raw)
		}
		switch a {
		case atom.Pre, atom.Textarea, atom.Title:
			if tt == html.StartTagToken {
				verbatim++
			} else if tt == html.EndTagToken && verbatim > 0 {
				verbatim--
			}
		}
		prevBlock = block
		if tt == html.StartTagToken {
			lastStart = a
		} else if tt == html.EndTagToken {
			lastStart = 0
		}
	}
	opportunity("")
	return b.String()
}

// writeTag writes a start tag, with an opportunity in place of each space
// that separates two attributes (outside quoted values).
func writeTag(raw string, w *strings.Builder, opportunity func(string)) {
	var quote byte
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == ' ' && i+1 < len(raw) && raw[i+1] != '>' && raw[i+1] != '/' && raw[i+1] != ' ':
			opportunity(" ")
			continue
		}
		w.WriteByte(c)
	}
}

// writeCSS writes the content of a <style> element, with an opportunity
// after each "}" and each ";" outside quotes and parentheses.
func writeCSS(raw string, w *strings.Builder, opportunity func(string)) {
	var quote byte
	depth := 0
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		w.WriteByte(c)
		switch {
		case quote != 0:
			if c == '\\' && i+1 < len(raw) {
				i++
				w.WriteByte(raw[i])
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case (c == '}' || c == ';') && depth == 0:
			opportunity("")
		}
	}
}
