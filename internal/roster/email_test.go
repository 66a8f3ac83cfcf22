package roster

import (
	"strings"
	"testing"
)

// The addresses docomo and au issued before 2009, and their quoted forms,
// are accepted and stored in one form: unquoted, as written, lower-cased.
func TestCheckEmailLegacyCarrierForms(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"taro..yamada@docomo.ne.jp":                "taro..yamada@docomo.ne.jp",
		"hanako.@ezweb.ne.jp":                      "hanako.@ezweb.ne.jp",
		".ichiro@ezweb.ne.jp":                      ".ichiro@ezweb.ne.jp",
		"a...b.@docomo.ne.jp":                      "a...b.@docomo.ne.jp",
		`"taro..yamada"@docomo.ne.jp`:              "taro..yamada@docomo.ne.jp",
		`"Hanako."@EZweb.ne.jp`:                    "hanako.@ezweb.ne.jp",
		`"taro\.yamada"@docomo.ne.jp`:              "taro.yamada@docomo.ne.jp",
		`"plain"@example.com`:                      "plain@example.com",
		"Taro.Yamada@Example.JP":                   "taro.yamada@example.jp",
		"o'brien+tag@mail-1.example.com":           "o'brien+tag@mail-1.example.com",
		strings.Repeat("a", 61) + ".@docomo.ne.jp": strings.Repeat("a", 61) + ".@docomo.ne.jp", // 64 octets quoted
	} {
		got, err := checkEmail(raw)
		if err != nil || got != want {
			t.Errorf("checkEmail(%q) = %q, %v; want %q", raw, got, err, want)
			continue
		}
		if again, err := checkEmail(got); err != nil || again != got {
			t.Errorf("the stored form %q does not check to itself: %q, %v", got, again, err)
		}
	}
}

// Everything else RFC 5322 forbids is rejected, and the reason says what is
// wrong with the address.
func TestCheckEmailReasons(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ raw, reason string }{
		{"", "missing email"},
		{"taro.example.jp", "no @"},
		{"taro@yamada@example.jp", "two @"},
		{`"taro"@yamada@example.jp`, "two @"},
		{"taro@", "no domain"},
		{"@example.jp", "no local part"},
		{"taro yamada@example.jp", "space in the address"},
		{"taro@example .jp", "space in the address"},
		{"Taro <taro@example.jp>", "angle brackets"},
		{"<taro@example.jp>", "angle brackets"},
		{"taro@localhost", "domain has no dot"},
		{"taro@example..jp", "empty label"},
		{"taro@example.jp.", "empty label"},
		{"taro@.example.jp", "empty label"},
		{"taro@[192.0.2.1]", "domain literal"},
		{"taro@-example.jp", "hyphen"},
		{"taro@exa_mple.jp", `'_' is not allowed in the domain`},
		{"taro@" + strings.Repeat("a", 64) + ".jp", "label longer than 63 octets"},
		{strings.Repeat("a", 65) + "@example.jp", "local part longer than 64 octets"},
		{strings.Repeat("a", 63) + ".@docomo.ne.jp", "local part longer than 64 octets"}, // 66 quoted
		{"a@" + strings.Repeat("b.", 130) + "jp", "longer than 254"},
		{"ｔａｒｏ@example.jp", "non-ASCII"},
		{"taro＠example.jp", "non-ASCII"},
		{"taro@example.jp\r\nBcc: x@example.jp", "control character"},
		{"taro,yamada@example.jp", `',' is not allowed in the local part`},
		{"taro(x)@example.jp", "comment"},
		{`ta"ro"@example.jp`, "quote inside the local part"},
		{`"taro@example.jp`, "unclosed quote"},
		{`"taro"x@example.jp`, "text after the quoted local part"},
		{`"taro yamada"@example.jp`, "space in the address"},
		{`"taro,yamada"@example.jp`, "quoted local part holds ','"},
		{`""@example.jp`, "no local part"},
		{"..@docomo.ne.jp", "only dots"},
		{"taro;hanako@example.jp", `';' is not allowed in the local part`},
	} {
		_, err := checkEmail(c.raw)
		if err == nil || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("checkEmail(%q) = %v, want an error saying %q", c.raw, err, c.reason)
		}
	}
}
