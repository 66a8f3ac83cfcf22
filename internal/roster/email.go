package roster

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits on an address, RFC 5321 section 4.5.3.1.
const (
	maxAddressOctets   = 254 // a forward-path is at most 256 octets with its angle brackets
	maxLocalPartOctets = 64  // section 4.5.3.1.1, as sent (with quotes where needed)
	maxLabelOctets     = 63  // RFC 1035 section 2.3.4
)

// atextSpecials are the characters besides letters and digits that RFC 5322
// section 3.2.3 allows in an atom.
const atextSpecials = "!#$%&'*+-/=?^_`{|}~"

// CanonicalEmail checks an address as a roster file, a command line or a
// campaign tool gives it and returns the one form Kizuna stores, looks up
// and hashes: the local part unquoted, as written (its dots kept), "@", the
// domain, all lower-cased. The error says what is wrong, e.g.
// `bad address "a@b@c.jp": two @`.
//
// Accepted: a bare addr-spec of RFC 5322 section 3.4.1 (no display name,
// angle brackets or comments), in ASCII, whose domain is a dotted host name
// (RFC 5321 section 4.1.2: letters, digits and hyphens, no domain literal),
// within the lengths of RFC 5321 section 4.5.3.1. Besides the dot-atom form
// it accepts the local parts docomo and au issued before 2009, which RFC
// 5322 forbids unquoted: consecutive dots and a dot at the start or end
// (taro..yamada@docomo.ne.jp, hanako.@ezweb.ne.jp). Such an address is also
// accepted quoted ("taro..yamada"@docomo.ne.jp) and is the same person; a
// quoted local part must hold only what a legacy unquoted one may (atext
// and dots), so that the unquoted form stays unambiguous. Whoever sends to
// a stored address quotes its local part where RFC 5321 section 4.1.2
// needs it (a Dot-string has no empty atoms).
//
// Non-ASCII addresses are refused: most relays lack SMTPUTF8 (RFC 6531), and
// in Japanese rosters they are nearly always a full-width typo. No DNS
// lookup is made.
func CanonicalEmail(raw string) (string, error) {
	if raw == "" {
		return "", fmt.Errorf("missing email")
	}
	bad := func(format string, args ...any) (string, error) {
		return "", fmt.Errorf("bad address %q: %s", clip(raw, 80), fmt.Sprintf(format, args...))
	}
	for _, c := range raw {
		switch {
		case c >= utf8.RuneSelf:
			return bad("non-ASCII (full-width?) characters")
		case c < 0x20 || c == 0x7F:
			return bad("control character %U", c)
		}
	}
	if len(raw) > maxAddressOctets {
		return "", fmt.Errorf("bad address: longer than %d characters", maxAddressOctets)
	}
	if strings.ContainsAny(raw, "<>") {
		return bad("a display name or angle brackets: write the bare address, like name@example.com")
	}
	if strings.ContainsRune(raw, ' ') {
		return bad("space in the address")
	}

	var local, domain string
	quoted := false
	if raw[0] == '"' {
		end, content, ok := unquoteLocal(raw)
		if !ok {
			return bad("unclosed quote in the local part")
		}
		rest := raw[end:]
		switch {
		case rest == "":
			return bad("no @")
		case rest[0] != '@':
			return bad("text after the quoted local part (only a whole local part may be quoted)")
		case strings.Contains(rest[1:], "@"):
			return bad("two @")
		}
		local, domain, quoted = content, rest[1:], true
	} else {
		switch n := strings.Count(raw, "@"); {
		case n == 0:
			return bad("no @")
		case n > 1:
			return bad("two @")
		}
		at := strings.IndexByte(raw, '@')
		local, domain = raw[:at], raw[at+1:]
	}

	if local == "" {
		return bad("no local part (nothing before @)")
	}
	for i := 0; i < len(local); i++ {
		c := local[i]
		if isAtext(c) || c == '.' {
			continue
		}
		switch {
		case quoted:
			return bad("the quoted local part holds %q; only letters, digits, dots and %s are accepted", c, atextSpecials)
		case c == '"':
			return bad("quote inside the local part (only a whole local part may be quoted)")
		case c == '(' || c == ')':
			return bad("a comment (parentheses): write the bare address")
		default:
			return bad("%q is not allowed in the local part", c)
		}
	}
	if strings.Trim(local, ".") == "" {
		return bad("the local part is only dots")
	}
	if n := len(sendForm(local)); n > maxLocalPartOctets {
		return bad("local part longer than %d octets (%d)", maxLocalPartOctets, n)
	}

	if domain == "" {
		return bad("no domain (nothing after @)")
	}
	if domain[0] == '[' {
		return bad("a domain literal ([...]): use the host name")
	}
	if !strings.Contains(domain, ".") {
		return bad("domain has no dot")
	}
	for _, label := range strings.Split(domain, ".") {
		switch {
		case label == "":
			return bad("domain has an empty label (two dots, or a dot at its start or end)")
		case len(label) > maxLabelOctets:
			return bad("domain label longer than %d octets", maxLabelOctets)
		case label[0] == '-' || label[len(label)-1] == '-':
			return bad("domain label %q starts or ends with a hyphen", clip(label, 40))
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !isLetDig(c) && c != '-' {
				return bad("%q is not allowed in the domain", c)
			}
		}
	}
	return strings.ToLower(local + "@" + domain), nil
}

// unquoteLocal reads the quoted-string that starts s (RFC 5322 section
// 3.2.4: backslash escapes the next character). It returns the index just
// after the closing quote and the content, or ok false when the quote is
// not closed.
func unquoteLocal(s string) (end int, content string, ok bool) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 == len(s) {
				return 0, "", false
			}
			i++
			b.WriteByte(s[i])
		case '"':
			return i + 1, b.String(), true
		default:
			b.WriteByte(s[i])
		}
	}
	return 0, "", false
}

// sendForm is a canonical local part as it goes on the wire: quoted when it
// is not a Dot-string (RFC 5321 section 4.1.2), which only the legacy dots
// make it; it never holds a character that needs a backslash.
func sendForm(local string) string {
	if strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, "..") {
		return `"` + local + `"`
	}
	return local
}

func isLetDig(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isAtext(c byte) bool {
	return isLetDig(c) || strings.IndexByte(atextSpecials, c) >= 0
}
