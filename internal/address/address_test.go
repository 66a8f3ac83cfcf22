package address

import (
	"net/mail"
	"testing"
)

func TestQuote(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"taro.yamada@example.jp", "taro.yamada@example.jp"},
		{"a+tag!#$%&'*/=?^_`{|}~-@example.jp", "a+tag!#$%&'*/=?^_`{|}~-@example.jp"},
		{"taro..yamada@docomo.ne.jp", `"taro..yamada"@docomo.ne.jp`},
		{"hanako.@ezweb.ne.jp", `"hanako."@ezweb.ne.jp`},
		{".hanako@ezweb.ne.jp", `".hanako"@ezweb.ne.jp`},
		{"a(b)@example.jp", `"a(b)"@example.jp`},
		{`a"b\c@example.jp`, `"a\"b\\c"@example.jp`},
		{"john smith@example.jp", `"john smith"@example.jp`},
		{"a@b@example.jp", `"a@b"@example.jp`},
		{`"taro..yamada"@docomo.ne.jp`, `"taro..yamada"@docomo.ne.jp`}, // already quoted
		{`"a\"@example.jp`, `"\"a\\\""@example.jp`},                    // not a complete quoted-string
		{"@example.jp", `""@example.jp`},
		{"no-at-sign", "no-at-sign"},
		{"山田@例え.jp", "山田@例え.jp"}, // UTF-8 atext (RFC 6532)
	} {
		if got := Quote(c.in); got != c.want {
			t.Errorf("Quote(%q) = %s, want %s", c.in, got, c.want)
		}
		if got := string(AppendQuoted([]byte("x"), c.in)); got != "x"+c.want {
			t.Errorf("AppendQuoted(%q) = %s, want x%s", c.in, got, c.want)
		}
		if got := Quote(Quote(c.in)); got != c.want {
			t.Errorf("Quote(Quote(%q)) = %s, want %s", c.in, got, c.want)
		}
	}
}

// The quoted form parses back (net/mail, RFC 5322) to the stored address.
func TestQuoteParsesBack(t *testing.T) {
	for _, stored := range []string{"taro..yamada@docomo.ne.jp", "hanako.@ezweb.ne.jp", `a"b\c@example.jp`, "plain@example.jp"} {
		a, err := mail.ParseAddress("山田 <" + Quote(stored) + ">")
		if err != nil {
			t.Fatalf("%s: %v", Quote(stored), err)
		}
		if a.Address != stored {
			t.Errorf("%s parses to %q, want %q", Quote(stored), a.Address, stored)
		}
	}
}

func TestIsDotAtom(t *testing.T) {
	for s, want := range map[string]bool{
		"a": true, "a.b.c": true, "": false, ".": false, "a..b": false, "a.": false, ".a": false, "a b": false, `a"b`: false, "a,b": false,
	} {
		if IsDotAtom(s) != want {
			t.Errorf("IsDotAtom(%q) = %v", s, !want)
		}
	}
}

func FuzzQuote(f *testing.F) {
	for _, s := range []string{"taro..yamada@docomo.ne.jp", `a"b\c@x.jp`, `"q"@x.jp`, "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := Quote(s)
		if Quote(q) != q {
			t.Fatalf("Quote not idempotent: %q → %q → %q", s, q, Quote(q))
		}
	})
}
