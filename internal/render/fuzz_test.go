package render

import (
	"bytes"
	"strings"
	"testing"

	gmail "github.com/emersion/go-message/mail"
)

// FuzzRenderRecipient renders hostile alumni data: the message must always
// parse, no value may add a header, and HTML must never carry a raw tag from
// the data.
func FuzzRenderRecipient(f *testing.F) {
	f.Add("<script>", "太郎", "開発部", "a@example.jp", "ja")
	f.Add("O'Brien & \"Sons\"", "Ann\r\nBcc: x@y", "=?UTF-8?B?5bGx?=", "b@example.com", "en")
	f.Add("\x00\xff\xfe", "\u2028", strings.Repeat("髙", 200), "c@example.jp", "xx")
	p := mustPrepare(f, newsletter(), testOptions())
	f.Fuzz(func(t *testing.T, family, given, dept, email, locale string) {
		r := Recipient{DeliveryID: 1, Email: email, FamilyName: family, GivenName: given, Department: dept, Locale: locale}
		m, err := p.Render(r)
		if err != nil {
			return // a bad address is refused, which is fine
		}
		mr, err := gmail.CreateReader(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatalf("unparseable message: %v", err)
		}
		for _, k := range []string{"Bcc", "Cc"} {
			if mr.Header.Get(k) != "" {
				t.Fatalf("%s header injected", k)
			}
		}
		head, _, _ := bytes.Cut(m.Data, []byte("\r\n\r\n"))
		for _, l := range bytes.Split(head, []byte("\r\n")) {
			if len(l) > 998 {
				t.Fatalf("header line of %d octets", len(l))
			}
		}
		html := p.RenderParts(r).HTML
		for _, v := range []string{family, given, dept} {
			if strings.ContainsAny(v, "<>\"'") && strings.Contains(html, v) && len(v) > 3 {
				t.Fatalf("raw value %q in HTML", v)
			}
		}
	})
}
