package render

import (
	"bytes"
	"strings"
	"testing"

	"github.com/kizuna-alumni/kizuna/internal/mailtest"
)

// wireLines checks that every line of a message ends in CRLF, that no CR
// or LF stands alone, and that no line is longer than 998 octets (RFC 5322
// §2.1.1, §2.3).
func wireLines(t *testing.T, what string, data []byte) {
	t.Helper()
	for i, l := range bytes.Split(data, []byte("\r\n")) {
		if bytes.ContainsAny(l, "\r\n") {
			t.Errorf("%s: bare CR or LF on line %d", what, i+1)
		}
		if len(l) > maxLine {
			t.Errorf("%s: line %d has %d octets", what, i+1, len(l))
		}
	}
}

// With 8BITMIME the parts go as they are, labelled 8bit (or 7bit when all
// ASCII), and read back the same as RenderParts; the message says it
// needs 8BITMIME. Without it, English parts are quoted-printable and
// Japanese ones base64, and the message never needs 8BITMIME.
func TestTransferEncodings(t *testing.T) {
	t.Parallel()
	for _, eight := range []bool{true, false} {
		o := testOptions()
		o.EightBitMIME = eight
		p := mustPrepare(t, newsletter(), o)
		for _, r := range []Recipient{yamada(), smith()} {
			m := mustRender(t, p, r)
			wireLines(t, r.Locale, m.Data)
			root, err := mailtest.Parse(m.Data)
			if err != nil {
				t.Fatal(err)
			}
			pt := p.RenderParts(r)
			text, html := root.Find("text/plain"), root.Find("text/html")
			if text.Text() != pt.Text || html.Text() != pt.HTML {
				t.Errorf("8BITMIME %v %s: the decoded parts differ from RenderParts", eight, r.Locale)
			}
			want := map[bool]map[string][2]string{
				true:  {"ja": {"8bit", "8bit"}, "en": {"8bit", "8bit"}},
				false: {"ja": {"base64", "base64"}, "en": {"quoted-printable", "quoted-printable"}},
			}[eight][r.Locale]
			if text.Encoding != want[0] || html.Encoding != want[1] {
				t.Errorf("8BITMIME %v %s: text %s, HTML %s; want %v", eight, r.Locale, text.Encoding, html.Encoding, want)
			}
			if m.EightBit != eight {
				t.Errorf("8BITMIME %v %s: Message.EightBit %v", eight, r.Locale, m.EightBit)
			}
		}
	}
}

// A recipient can bring values far beyond the allowance Prepare counts
// (names of roster.MaxFieldChars = 1000 characters, with quotes that HTML
// escapes five-fold) and bare CR or LF: the message stays valid — the
// parts whose lines would pass 998 octets go base64 for that copy only —
// and reads back with every value; the next recipient gets 8bit again.
func TestLongAndBrokenValuesStayValid(t *testing.T) {
	t.Parallel()
	o := testOptions()
	o.EightBitMIME = true
	p := mustPrepare(t, newsletter(), o)
	long := yamada()
	long.FamilyName = strings.Repeat("長", 1000)
	long.GivenName = strings.Repeat(`"`, 1000)
	long.Department = "営業部\r\n第一課\r第二課\n第三課"
	m := mustRender(t, p, long)
	wireLines(t, "long", m.Data)
	root, err := mailtest.Parse(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	pt := p.RenderParts(long)
	html, text := root.Find("text/html"), root.Find("text/plain")
	if html.Encoding != "base64" {
		t.Errorf("HTML with a 3000-octet name on a line: %s, want base64", html.Encoding)
	}
	if string(html.Body) != pt.HTML || !strings.Contains(text.Text(), strings.Repeat("長", 1000)) {
		t.Error("the long values do not read back")
	}
	broken := yamada()
	broken.Department = "営業部\r\n第一課\r第二課\n第三課"
	bm := mustRender(t, p, broken)
	wireLines(t, "bare CR and LF", bm.Data) // no bare CR or LF anywhere
	broot, err := mailtest.Parse(bm.Data)
	if err != nil {
		t.Fatal(err)
	}
	if bt := broot.Find("text/plain"); bt.Encoding != "8bit" || !strings.Contains(string(bt.Body), "第一課\r\n第二課\r\n第三課") {
		t.Errorf("department with bare CR/LF in an 8bit text part: %s %q", bt.Encoding, bt.Body)
	}
	next := mustRender(t, p, yamada())
	root, err = mailtest.Parse(next.Data)
	if err != nil {
		t.Fatal(err)
	}
	if e := root.Find("text/html").Encoding; e != "8bit" || !next.EightBit {
		t.Errorf("the next recipient's HTML is %s, want 8bit", e)
	}
}

// The lightening step keeps the placeholders, Outlook's mso-* declarations
// and conditional comments, removes other comments and the indentation,
// keeps what table cells, links and headings need, drops a colour a
// paragraph inherits from its cell, the style rules that match nothing,
// the class names no rule refers to and the inliner's data-premailer
// attribute.
func TestLightenHTML(t *testing.T) {
	t.Parallel()
	doc := `<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html><head><style type="text/css">
  .a { color: red; }
  .b, .a .c { color: blue; }
  @media only screen and (max-width: 600px) { .b { color: green; } }
</style><style type="text/css" data-premailer="ignore">
  .a { word-break: keep-all; }
</style></head>
<body style="color: #111; font-family: Arial">
  <!-- a comment -->
  <!--[if mso]><table><tr><td><![endif]-->
  <table style="color: #222">
    <tr>
      <td style="color: #333; font-size: 15px; mso-line-height-rule: exactly">
        <p style="color: #333; font-size: 15px; margin: 0">Hello KZABCDEFGIVENNAMEZK</p>
        <a href="KZABCDEFLINK0ZK" style="color: #333; font-size: 15px">link</a> | <a href="x" style="color: #333">two</a>
        <span class="a c d" style="color: #333; font-size: 1.2em">relative</span>
      </td>
    </tr>
  </table>
  <!--[if mso]></td></tr></table><![endif]-->
</body></html>`
	got, err := lightenHTML(doc, func(s string) int { return len(s) })
	if err != nil {
		t.Fatal(err)
	}
	flat := strings.ReplaceAll(got, "\n", " ") // lines are broken where a space may stand
	for _, want := range []string{
		`<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"`,
		`<!--[if mso]>`, "KZABCDEFGIVENNAMEZK", `href="KZABCDEFLINK0ZK"`,
		`style="color:#333;font-size:15px;mso-line-height-rule:exactly"`, // the cell keeps all
		`<p style="font-size:15px;margin:0">`,                            // the colour is the cell's
		`style="color:#333">link</a> | <a`,                               // links keep their colour; the space between them stays
		`<span class="a c" style="font-size:1.2em">relative`,             // relative to the span's parent: kept; class d is in no rule
		`<body style="color: #111; font-family: Arial">`,                 // nothing on <body> is touched
		".a{color:red}.a .c{color:blue}</style>",                         // no element has class b: its selector and the @media block go; no ";" before "}"
		`<style type="text/css">.a{word-break:keep-all}</style>`,         // the sheet the inliner was told to leave keeps its rules, not the attribute
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("lightened HTML lacks %q:\n%s", want, got)
		}
	}
	for _, gone := range []string{"a comment", "\n  ", "<p style=\"color"} {
		if strings.Contains(got, gone) {
			t.Errorf("lightened HTML still has %q:\n%s", gone, got)
		}
	}
}

// The lightening step moves the colour and alignment every paragraph of a cell declares alike to the cell,
// drops the colour of a cell that holds only cells with their own, and
// writes no implied <tbody>, no xmlns and no xml:lang.
func TestLightenHoists(t *testing.T) {
	t.Parallel()
	doc := `<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" lang="ja" xml:lang="ja"><head></head><body>
<table><tbody><tr><td style="color: #111; font-size: 15px">
  <table><tr><td style="color: #222; font-size: 15px">
    <p style="color: #666; text-align: center; margin-top: 0">one</p>
    <p style="color: #666; text-align: center; margin-top: 0">two</p>
  </td></tr></table>
  <table><tr><td style="color: #333; font-size: 15px"><p style="margin-top: 0">three <a href="x" style="color: #00f">link</a></p></td></tr></table>
</td></tr></tbody></table></body></html>`
	got, err := lightenHTML(doc, func(s string) int { return len(s) })
	if err != nil {
		t.Fatal(err)
	}
	flat := strings.ReplaceAll(got, "\n", " ")
	for _, want := range []string{
		`<html lang="ja">`,
		`<table><tr><td style="font-size:15px">`,
		`<td style="font-size:15px;color:#666;text-align:center"><p style="margin-top:0">one</p>`,
		`<td style="color:#333;font-size:15px"><p style="margin-top:0">three <a href="x" style="color:#00f">`,
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("lightened HTML lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "tbody") {
		t.Errorf("lightened HTML has a tbody:\n%s", got)
	}
}
