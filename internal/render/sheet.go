package render

import (
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// The style sheet part of the lightening step. The theme's <style> block
// carries rules for every part a message may have (the data table, RSVP
// buttons); the inliner leaves in it only what cannot be inlined (media
// queries, pseudo-classes). pruneSheets keeps of it only the selectors that
// can match an element of this document, and dropUnusedClasses then
// removes the class names no remaining selector refers to (their effect is
// already inline). A selector that cannot match, and a class no selector
// names, change nothing in any client.

// pruneSheets rewrites the compacted text of every <style> element under
// root (after compactCSS) without the selectors that name a class no
// element of root carries, and returns the class names the kept selectors
// refer to.
func pruneSheets(root *html.Node) map[string]bool {
	present := map[string]bool{}
	walk(root, func(n *html.Node) {
		for _, c := range classes(n) {
			present[c] = true
		}
	})
	used := map[string]bool{}
	walk(root, func(n *html.Node) {
		if n.Type != html.ElementNode || n.DataAtom != atom.Style {
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type == html.TextNode {
				c.Data = pruneCSS(c.Data, present, used)
			}
		}
	})
	return used
}

// dropUnusedClasses removes from every class attribute under root the
// names not in used, and the attribute when none is left.
func dropUnusedClasses(root *html.Node, used map[string]bool) {
	walk(root, func(n *html.Node) {
		for i, a := range n.Attr {
			if a.Namespace != "" || a.Key != "class" {
				continue
			}
			var kept []string
			for _, c := range strings.Fields(a.Val) {
				if used[c] {
					kept = append(kept, c)
				}
			}
			if len(kept) == 0 {
				n.Attr = append(n.Attr[:i], n.Attr[i+1:]...)
			} else {
				n.Attr[i].Val = strings.Join(kept, " ")
			}
			return
		}
	})
}

// walk calls f for n and every node under it, parents first.
func walk(n *html.Node, f func(*html.Node)) {
	f(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

// classes returns the class names of an element (HTML Living Standard
// §3.2.6.1: space-separated tokens).
func classes(n *html.Node) []string {
	if n.Type != html.ElementNode {
		return nil
	}
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == "class" {
			return strings.Fields(a.Val)
		}
	}
	return nil
}

// pruneCSS returns css (a compacted style sheet) with, in every style rule
// (top level or inside an at-rule block such as @media), only the
// selectors of its list that can match given the class names present; a
// rule without selectors left goes, and so does an @media block without
// rules. Other at-rules are kept as they are. The class names of the kept
// selectors are added to used.
func pruneCSS(css string, present, used map[string]bool) string {
	var b strings.Builder
	for i := 0; i < len(css); {
		open := scanTo(css, i, "{;")
		if open >= len(css) || css[open] == ';' {
			// An at-rule without a block (@import, @charset) or the
			// rest: kept.
			end := min(open+1, len(css))
			b.WriteString(css[i:end])
			i = end
			continue
		}
		close := matchingBrace(css, open)
		prelude, block := css[i:open], css[open+1:close]
		i = close + 1
		switch {
		case strings.HasPrefix(prelude, "@media"):
			if inner := pruneCSS(block, present, used); inner != "" {
				b.WriteString(prelude + "{" + inner + "}")
			}
		case strings.HasPrefix(prelude, "@"):
			b.WriteString(prelude + "{" + block + "}")
			for _, c := range selectorClasses(prelude, true) {
				used[c] = true
			}
		default:
			var kept []string
			for _, sel := range splitTop(prelude, ',') {
				if canMatch(sel, present) {
					kept = append(kept, sel)
					for _, c := range selectorClasses(sel, true) {
						used[c] = true
					}
				}
			}
			if len(kept) > 0 {
				b.WriteString(strings.Join(kept, ",") + "{" + dropPrefixed(block) + "}")
			}
		}
	}
	return b.String()
}

// canMatch reports whether a selector can match an element of a document
// whose class names are present: false only when it requires a class
// (outside a functional pseudo-class such as :not()) that no element has.
func canMatch(sel string, present map[string]bool) bool {
	for _, c := range selectorClasses(sel, false) {
		if !present[c] {
			return false
		}
	}
	return true
}

// selectorClasses returns the class names a selector names (".name",
// Selectors Level 3 §6.4), outside quoted strings and attribute
// selectors; with inParens, also those inside functional pseudo-classes.
func selectorClasses(sel string, inParens bool) []string {
	var out []string
	depth, bracket := 0, 0
	var quote byte
	for i := 0; i < len(sel); i++ {
		c := sel[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '[':
			bracket++
		case c == ']' && bracket > 0:
			bracket--
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case c == '.' && bracket == 0 && (depth == 0 || inParens):
			j := i + 1
			for j < len(sel) && (isNameChar(sel[j]) || sel[j] >= 0x80) {
				j++
			}
			if j > i+1 {
				out = append(out, sel[i+1:j])
			}
			i = j - 1
		}
	}
	return out
}

func isNameChar(c byte) bool {
	return c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// scanTo returns the index of the first byte of stop in s from i, outside
// quotes and parentheses, or len(s).
func scanTo(s string, i int, stop string) int {
	var quote byte
	depth := 0
	for ; i < len(s); i++ {
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
		case depth == 0 && strings.IndexByte(stop, c) >= 0:
			return i
		}
	}
	return len(s)
}

// matchingBrace returns the index of the "}" closing the "{" at open, or
// len(s) when the sheet ends first.
func matchingBrace(s string, open int) int {
	depth := 0
	for i := open; i < len(s); i = scanTo(s, i+1, "{}") {
		if i >= len(s) {
			break
		}
		if s[i] == '{' {
			depth++
		} else if depth--; depth == 0 {
			return i
		}
	}
	return len(s)
}

// splitTop splits s at sep outside quotes, parentheses and brackets.
func splitTop(s string, sep byte) []string {
	var out []string
	start, depth := 0, 0
	var quote byte
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
		case c == '(' || c == '[':
			depth++
		case (c == ')' || c == ']') && depth > 0:
			depth--
		case c == sep && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// dropPrefixed removes from a declaration block "-webkit-box-sizing" when
// the block declares box-sizing with the same value: every WebKit and
// Blink mail client reads the unprefixed property (Safari 5.1, 2011).
func dropPrefixed(block string) string {
	ds := splitTop(block, ';')
	has := map[string]bool{}
	for _, d := range ds {
		has[strings.TrimSpace(d)] = true
	}
	kept := ds[:0]
	for _, d := range ds {
		if v, ok := strings.CutPrefix(strings.TrimSpace(d), "-webkit-box-sizing:"); ok && has["box-sizing:"+v] {
			continue
		}
		kept = append(kept, d)
	}
	return strings.Join(kept, ";")
}
