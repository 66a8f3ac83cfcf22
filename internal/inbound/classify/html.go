package classify

import (
	"strings"

	"golang.org/x/net/html"
)

// htmlToText turns an HTML body into plain text for storage and display:
// the text of the document, with line breaks at block elements and <br>,
// without scripts, styles or the head. It is no renderer; it keeps what a
// person wrote readable.
func htmlToText(doc string) string {
	z := html.NewTokenizer(strings.NewReader(doc))
	z.SetMaxBuf(maxDecoded)
	var b strings.Builder
	skip := 0
	newline := func() {
		s := b.String()
		if s != "" && !strings.HasSuffix(s, "\n") {
			b.WriteByte('\n')
		}
	}
	for b.Len() < maxText*2 {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return tidyLines(b.String())
		case html.TextToken:
			if skip == 0 {
				b.WriteString(collapse(string(z.Text())))
			}
		case html.StartTagToken, html.EndTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			switch string(name) {
			case "script", "style", "head", "title":
				if tt == html.StartTagToken {
					skip++
				} else if tt == html.EndTagToken && skip > 0 {
					skip--
				}
			case "br":
				b.WriteByte('\n')
			case "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "ul", "ol", "hr", "dd", "dt":
				newline()
			case "td", "th":
				if tt == html.EndTagToken {
					b.WriteByte(' ')
				}
			}
		}
	}
	return tidyLines(b.String())
}

// collapse turns runs of white space into one space, as a browser does.
func collapse(s string) string {
	if strings.TrimSpace(s) == "" {
		if s == "" {
			return ""
		}
		return " "
	}
	lead := s[0] == ' ' || s[0] == '\n' || s[0] == '\t' || s[0] == '\r'
	last := s[len(s)-1]
	trail := last == ' ' || last == '\n' || last == '\t' || last == '\r'
	out := strings.Join(strings.Fields(s), " ")
	if lead {
		out = " " + out
	}
	if trail {
		out += " "
	}
	return strings.ReplaceAll(out, "\u00a0", " ")
}

// tidyLines trims each line and drops runs of empty lines.
func tidyLines(s string) string {
	lines := strings.Split(s, "\n")
	out := lines[:0]
	blank := false
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" {
			if blank || len(out) == 0 {
				continue
			}
			blank = true
		} else {
			blank = false
		}
		out = append(out, l)
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}
