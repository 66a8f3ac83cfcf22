package token

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

var secret = []byte("0123456789abcdef0123456789abcdef-test")

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	s := New(secret)
	for _, c := range []Claims{
		{Purpose: Open, DeliveryID: 1},
		{Purpose: Click, DeliveryID: 812, Link: 3, URL: "https://example.co.jp/events/2026?ref=日本"},
		{Purpose: Unsubscribe, DeliveryID: 1 << 40},
		{Purpose: RSVP, DeliveryID: 0},
	} {
		tok := s.Sign(c)
		if strings.ContainsAny(tok, "+/=%?&#") {
			t.Errorf("%v token %q is not URL-safe", c.Purpose, tok)
		}
		got, err := s.Verify(tok, c.Purpose)
		if err != nil || got != c {
			t.Errorf("Verify(Sign(%+v)) = %+v, %v", c, got, err)
		}
	}
}

func TestAddressForm(t *testing.T) {
	t.Parallel()
	s := New(secret)
	for _, p := range []Purpose{Reply, Bounce, Unsubscribe} {
		c := Claims{Purpose: p, DeliveryID: 9_876_543_210}
		tok := s.SignAddress(c)
		if tok != strings.ToLower(tok) {
			t.Errorf("address token %q is not lower case", tok)
		}
		// "reply+b." + token must fit the 64-octet local part.
		if n := len("reply+b.") + len(tok); n > 64 {
			t.Errorf("local part of %d octets", n)
		}
		for _, form := range []string{tok, strings.ToUpper(tok)} {
			got, err := s.VerifyAddress(form, p)
			if err != nil || got != c {
				t.Errorf("VerifyAddress(%q) = %+v, %v", form, got, err)
			}
		}
	}
}

func TestRejects(t *testing.T) {
	t.Parallel()
	s := New(secret)
	other := New([]byte("another-secret-another-secret-another"))
	c := Claims{Purpose: Click, DeliveryID: 42, Link: 1, URL: "https://example.co.jp/"}
	tok := s.Sign(c)
	cases := map[string]func() error{
		"wrong purpose": func() error { _, err := s.Verify(tok, Open); return err },
		"wrong secret":  func() error { _, err := other.Verify(tok, Click); return err },
		"truncated": func() error {
			_, err := s.Verify(tok[:len(tok)-1], Click)
			return err
		},
		"truncated payload": func() error { _, err := s.Verify(tok[:10], Click); return err },
		"empty":             func() error { _, err := s.Verify("", Click); return err },
		"case-folded":       func() error { _, err := s.Verify(strings.ToLower(tok), Click); return err },
		"case-folded upper": func() error { _, err := s.Verify(strings.ToUpper(tok), Click); return err },
		"extra char":        func() error { _, err := s.Verify(tok+"A", Click); return err },
		"address form of url token": func() error {
			_, err := s.VerifyAddress(tok, Click)
			return err
		},
		"reply token as bounce": func() error {
			_, err := s.VerifyAddress(s.SignAddress(Claims{Purpose: Reply, DeliveryID: 1}), Bounce)
			return err
		},
		"huge": func() error { _, err := s.Verify(strings.Repeat("A", 1<<20), Click); return err },
	}
	for name, f := range cases {
		if err := f(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

// Swapping the URL of a click token for another, keeping the MAC, fails.
func TestClickTargetBound(t *testing.T) {
	t.Parallel()
	s := New(secret)
	good := s.Sign(Claims{Purpose: Click, DeliveryID: 7, URL: "https://example.co.jp/a"})
	evil := s.Sign(Claims{Purpose: Click, DeliveryID: 7, URL: "https://evil.example/a"})
	gb, _ := urlEncoding.DecodeString(good)
	eb, _ := urlEncoding.DecodeString(evil)
	spliced := append(append([]byte{}, eb[:len(eb)-macLen]...), gb[len(gb)-macLen:]...)
	if _, err := s.Verify(urlEncoding.EncodeToString(spliced), Click); !errors.Is(err, ErrInvalid) {
		t.Fatalf("spliced token verified: %v", err)
	}
}

// FuzzTokenTamper proves that any alteration of a valid token fails to
// verify: the fuzzer picks a token and an edit; only the unedited token may
// verify, and then only with its own claims.
func FuzzTokenTamper(f *testing.F) {
	f.Add(int64(1), uint8(Open), 0, "", 0, byte('A'), uint8(0))
	f.Add(int64(812), uint8(Click), 2, "https://example.co.jp/x?y=1", 5, byte('_'), uint8(1))
	f.Add(int64(1<<40), uint8(Unsubscribe), 0, "", 3, byte('-'), uint8(2))
	f.Add(int64(5), uint8(Bounce), 0, "", 0, byte('z'), uint8(3))
	f.Add(int64(5), uint8(Reply), 0, "", 8, byte('7'), uint8(4))
	s := New(secret)
	f.Fuzz(func(t *testing.T, id int64, purpose uint8, link int, u string, pos int, b byte, op uint8) {
		if id < 0 || id > 1<<62 || link < 0 || link > 1<<20 {
			return
		}
		p := Purpose(purpose%6 + 1)
		c := Claims{Purpose: p, DeliveryID: id}
		if p == Click {
			c.Link, c.URL = link, u
		}
		address := op%2 == 1
		tok := s.Sign(c)
		verify := s.Verify
		if address {
			tok, verify = s.SignAddress(c), s.VerifyAddress
		}
		if pos < 0 {
			pos = -pos
		}
		pos %= len(tok) + 1
		var altered string
		switch op % 8 / 2 {
		case 0: // replace one character
			if pos == len(tok) {
				pos--
			}
			altered = tok[:pos] + string(b) + tok[pos+1:]
		case 1: // insert
			altered = tok[:pos] + string(b) + tok[pos:]
		case 2: // delete
			if pos == len(tok) {
				pos--
			}
			altered = tok[:pos] + tok[pos+1:]
		case 3: // truncate
			altered = tok[:pos]
		}
		got, err := verify(altered, p)
		same := altered == tok || (address && strings.EqualFold(altered, tok))
		if same {
			if err != nil || got != c {
				t.Fatalf("unaltered token failed: %v", err)
			}
			return
		}
		if err == nil {
			t.Fatalf("altered token %q (from %q) verified as %+v", altered, tok, got)
		}
	})
}

func BenchmarkSign(b *testing.B) {
	s := New(secret)
	c := Claims{Purpose: Click, DeliveryID: 123456, Link: 2, URL: "https://example.co.jp/events/2026"}
	var buf []byte
	for b.Loop() {
		buf = s.AppendSign(buf[:0], c)
	}
}

func TestParseLocalPart(t *testing.T) {
	t.Parallel()
	s := New(secret)
	for _, p := range []Purpose{Reply, Bounce, Unsubscribe} {
		tok := s.SignAddress(Claims{Purpose: p, DeliveryID: 77})
		local := map[Purpose]string{Reply: "reply+", Bounce: "reply+b.", Unsubscribe: "reply+u."}[p] + tok
		for _, form := range []string{local, strings.ToUpper(local)} {
			gotP, gotTok, ok := ParseLocalPart(form, "reply")
			if !ok || gotP != p {
				t.Fatalf("ParseLocalPart(%q) = %v, %q, %v", form, gotP, gotTok, ok)
			}
			c, err := s.VerifyAddress(gotTok, gotP)
			if err != nil || c.DeliveryID != 77 {
				t.Errorf("%q: %+v %v", form, c, err)
			}
		}
	}
	for _, local := range []string{"reply", "reply+", "other+abc", "reply+b.", "replyabc"} {
		if _, _, ok := ParseLocalPart(local, "reply"); ok {
			t.Errorf("ParseLocalPart(%q) accepted", local)
		}
	}
}

// A Digest is stable for one secret and claims (also across Signers, as
// across processes), differs for another delivery or secret, is short
// lower-case base32, and is never accepted as a token.
func TestDigest(t *testing.T) {
	t.Parallel()
	c := Claims{Purpose: MessageID, DeliveryID: 4242}
	d := New(secret).Digest(c)
	if !regexp.MustCompile(`^[a-z2-7]{16}$`).MatchString(d) {
		t.Fatalf("Digest = %q, want 16 characters of lower-case base32", d)
	}
	if again := New(secret).Digest(c); again != d {
		t.Errorf("Digest changed with a new Signer: %q, then %q", d, again)
	}
	for name, other := range map[string]string{
		"another delivery": New(secret).Digest(Claims{Purpose: MessageID, DeliveryID: 4243}),
		"another secret":   New([]byte("another installation's secret, 32+ bytes")).Digest(c),
		"another purpose":  New(secret).Digest(Claims{Purpose: Reply, DeliveryID: 4242}),
	} {
		if other == d {
			t.Errorf("%s gives the same digest %q", name, d)
		}
	}
	for _, p := range []Purpose{MessageID, Reply, Bounce, Unsubscribe} {
		if _, err := New(secret).VerifyAddress(d, p); err == nil {
			t.Errorf("a digest verifies as a %v token", p)
		}
	}
}
