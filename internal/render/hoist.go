package render

import (
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Tree rewrites of the lightening step that go beyond dropping a
// declaration equal to the inherited one (dropStyles); each leaves the
// rendering unchanged, and TestLightenLooksTheSame checks that in
// Chromium.

// declaredBelow reports whether every piece of text under n (not counting
// whitespace) is inside an element below n that declares prop in its
// style attribute, and appends the values of the outermost such
// declarations to found. An element with generated content (a data-label,
// which the theme's small-screen rules show with ::before) counts as text.
func declaredBelow(n *html.Node, prop string, found *[]string) bool {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		switch c.Type {
		case html.TextNode:
			if strings.TrimSpace(c.Data) != "" {
				return false
			}
		case html.ElementNode:
			if v := styleValue(c, prop); v != "" {
				*found = append(*found, v)
				continue
			}
			if hasAttr(c, "data-label") || !declaredBelow(c, prop, found) {
				return false
			}
		}
	}
	return true
}

// mostCommon returns the value that occurs most often in vs (the first
// of equals) and its count.
func mostCommon(vs []string) (string, int) {
	count := map[string]int{}
	best, bestN := "", 0
	for _, v := range vs {
		count[v]++
		if count[v] > bestN {
			best, bestN = v, count[v]
		}
	}
	return best, bestN
}

// spliceTbody replaces every <tbody> under n that has no attributes and is
// the only row group of its table by its rows: an HTML parser puts rows
// that are children of a table into an implied tbody (HTML Living Standard
// §13.2.6.4.9, "in table" insertion mode), so the document tree, and what
// a reader sees, is the same without the two tags.
func spliceTbody(n *html.Node) {
	if n.Type == html.ElementNode && n.DataAtom == atom.Table {
		var groups []*html.Node
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type == html.ElementNode {
				switch c.DataAtom {
				case atom.Tbody, atom.Thead, atom.Tfoot, atom.Caption, atom.Colgroup, atom.Col:
					groups = append(groups, c)
				}
			}
		}
		if len(groups) == 1 && groups[0].DataAtom == atom.Tbody && len(groups[0].Attr) == 0 {
			tb := groups[0]
			for c := tb.FirstChild; c != nil; {
				next := c.NextSibling
				tb.RemoveChild(c)
				n.InsertBefore(c, tb)
				c = next
			}
			n.RemoveChild(tb)
		}
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		spliceTbody(c)
	}
}

// dropInertAttrs removes attributes no HTML user agent reads:
//   - xmlns on <html> (a document parsed as HTML takes it as an ordinary
//     attribute with no effect, HTML Living Standard §13.1.2.3) and
//     xml:lang (it is only read in XML documents; lang stays, §3.2.6.2);
//   - width and height on <a>, which has no such attributes (the inliner
//     copies a width declaration into one); the width declaration stays;
//   - data-premailer on <style>, which only tells the inliner to leave that
//     sheet in the head (go-premailer's "ignore").
func dropInertAttrs(n *html.Node) {
	walk(n, func(n *html.Node) {
		if n.Type != html.ElementNode {
			return
		}
		kept := n.Attr[:0]
		for _, a := range n.Attr {
			switch {
			case n.DataAtom == atom.Html && (a.Key == "xmlns" || a.Key == "xml:lang" || a.Namespace == "xml" && a.Key == "lang"):
				continue
			case n.DataAtom == atom.A && a.Namespace == "" && (a.Key == "width" || a.Key == "height"):
				continue
			case n.DataAtom == atom.Style && a.Namespace == "" && a.Key == "data-premailer":
				continue
			}
			kept = append(kept, a)
		}
		n.Attr = kept
	})
}

func hasAttr(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == key {
			return true
		}
	}
	return false
}

func styleAttr(n *html.Node) string {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == "style" {
			return a.Val
		}
	}
	return ""
}

// styleValue returns the last value n's style attribute declares for prop,
// or "".
func styleValue(n *html.Node, prop string) string {
	v := ""
	for _, d := range parseStyle(styleAttr(n)) {
		if d.prop == prop {
			v = d.value
		}
	}
	return v
}

// setStyle replaces n's style attribute by ds (or removes it when ds is
// empty).
func setStyle(n *html.Node, ds []decl) {
	for i, a := range n.Attr {
		if a.Namespace == "" && a.Key == "style" {
			if len(ds) == 0 {
				n.Attr = append(n.Attr[:i], n.Attr[i+1:]...)
			} else {
				n.Attr[i].Val = joinStyle(ds)
			}
			return
		}
	}
	if len(ds) > 0 {
		n.Attr = append(n.Attr, html.Attribute{Key: "style", Val: joinStyle(ds)})
	}
}

// inCells are the inherited properties hoistInCells moves from the
// blocks of a cell to the cell: Outlook inherits within a cell (from the
// cell to its paragraphs), and dropStyles already relies on that for a
// paragraph's colour.
var inCells = []string{"color", "text-align"}

// hoistInCells gives a table cell the value of an inCells property that
// every block in it declares alike (the footer's three paragraphs, each
// grey and centred), when no text in the cell takes that property from the
// cell itself: the cell's own value reached nothing, so replacing it
// changes nothing, and dropStyles then removes the blocks' repetitions.
// Only blocks count as declarers for text-align (an inline-block is placed
// by its parent's text-align), and nothing in a nested table or a
// relative value is considered.
func hoistInCells(n *html.Node) {
	walk(n, func(n *html.Node) {
		if n.Type != html.ElementNode || n.DataAtom != atom.Td && n.DataAtom != atom.Th {
			return
		}
		for _, prop := range inCells {
			var found []string
			if !declaredWithin(n, prop, &found) {
				continue
			}
			v, count := mostCommon(found)
			if count < 2 || count != len(found) || relativeLength(v) || strings.Contains(v, "!") {
				continue
			}
			ds := parseStyle(styleAttr(n))
			kept := ds[:0]
			for _, d := range ds {
				if d.prop != prop {
					kept = append(kept, d)
				}
			}
			setStyle(n, append(kept, decl{prop, v}))
		}
	})
}

// declaredWithin is declaredBelow without looking into nested tables (a
// nested table counts as text) and, for text-align, with only blocks as
// declarers (any other element counts as text).
func declaredWithin(n *html.Node, prop string, found *[]string) bool {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		switch c.Type {
		case html.TextNode:
			if strings.TrimSpace(c.Data) != "" {
				return false
			}
		case html.ElementNode:
			switch {
			case c.DataAtom == atom.Table || c.DataAtom == atom.Td || c.DataAtom == atom.Th:
				return false
			case prop == "text-align" && !blockish[c.DataAtom]:
				return false
			}
			if v := styleValue(c, prop); v != "" {
				*found = append(*found, v)
				continue
			}
			if hasAttr(c, "data-label") || !declaredWithin(c, prop, found) {
				return false
			}
		}
	}
	return true
}

// dropUnusedColor removes the colour of a table cell when every piece of
// text under it, nested cells included, is in an element that declares
// its own colour, and no border or outline there takes the current colour
// (CSS Color 4 §4.1): the wrapper cells of the theme, which hold only
// nested tables. Their font size and line height stay: in Outlook a cell
// ends with a paragraph after a nested table, whose height they set.
func dropUnusedColor(n *html.Node) {
	walk(n, func(n *html.Node) {
		if n.Type != html.ElementNode || n.DataAtom != atom.Td && n.DataAtom != atom.Th || styleValue(n, "color") == "" {
			return
		}
		var found []string
		if !declaredBelow(n, "color", &found) || currentColorBelow(n) {
			return
		}
		ds := parseStyle(styleAttr(n))
		kept := ds[:0]
		for _, d := range ds {
			if d.prop != "color" {
				kept = append(kept, d)
			}
		}
		setStyle(n, kept)
	})
}

// currentColorBelow reports whether an element under n may paint in its
// current colour without text: a border, outline, shadow or rule without
// a colour of its own, an image or a horizontal rule.
func currentColorBelow(n *html.Node) bool {
	uses := false
	walk(n, func(c *html.Node) {
		if c == n || c.Type != html.ElementNode {
			return
		}
		switch c.DataAtom {
		case atom.Img, atom.Hr, atom.Input, atom.Svg, atom.Video, atom.Iframe, atom.Object:
			uses = true
		}
		for _, d := range parseStyle(styleAttr(c)) {
			if paintsColor[d.prop] && !strings.ContainsAny(d.value, "#(") && d.value != "0" && d.value != "none" {
				uses = true
			}
		}
	})
	return uses
}

// paintsColor are the properties whose value may paint in currentColor
// when it names no colour (a keyword colour is taken for none: the check
// only errs on the side of keeping).
var paintsColor = map[string]bool{
	"border": true, "border-top": true, "border-right": true, "border-bottom": true, "border-left": true,
	"border-color": true, "border-top-color": true, "border-right-color": true, "border-bottom-color": true,
	"border-left-color": true, "outline": true, "outline-color": true, "box-shadow": true, "text-shadow": true,
	"text-decoration": true, "text-decoration-color": true, "column-rule": true, "caret-color": true,
}
