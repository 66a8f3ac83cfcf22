// Package address writes stored email addresses in the form SMTP and
// message headers need.
//
// The roster keeps an address as it was written (local@domain, unquoted).
// Some Japanese carrier addresses issued before 2009 (docomo, au) have
// local parts that are not an RFC 5322 dot-atom, such as "taro..yamada"
// or "hanako.": they are only valid on the wire as a quoted string,
// `"taro..yamada"@docomo.ne.jp` (RFC 5321 §4.1.2 Local-part = Dot-string /
// Quoted-string; RFC 5322 §3.4.1 local-part = dot-atom / quoted-string).
// Every place that writes an address (MAIL FROM, RCPT TO, To, From,
// Reply-To) goes through Quote or AppendQuoted, so they agree.
package address

import "strings"

// IsDotAtom reports whether local is a dot-atom (RFC 5322 §3.4.1, the same
// set as RFC 5321 §4.1.2 Dot-string): one or more runs of atext separated
// by single dots, with no dot at either end. atext is ALPHA, DIGIT and
// !#$%&'*+-/=?^_`{|}~ (RFC 5322 §3.2.3), plus any octet of a UTF-8
// sequence (RFC 6532 §3.2, for SMTPUTF8 addresses). The empty string is
// not a dot-atom.
func IsDotAtom(local string) bool {
	if local == "" || local[0] == '.' || local[len(local)-1] == '.' {
		return false
	}
	for i := 0; i < len(local); i++ {
		c := local[i]
		if c == '.' {
			if local[i-1] == '.' {
				return false
			}
			continue
		}
		if !isAtext(c) {
			return false
		}
	}
	return true
}

// isAtext reports whether c may appear in an atom (RFC 5322 §3.2.3,
// RFC 6532 §3.2).
func isAtext(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c >= 0x80:
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// isQuotedString reports whether local is already a complete quoted-string:
// DQUOTE, qtext or quoted-pairs, DQUOTE (RFC 5321 §4.1.2).
func isQuotedString(local string) bool {
	if len(local) < 2 || local[0] != '"' || local[len(local)-1] != '"' {
		return false
	}
	for i := 1; i < len(local)-1; i++ {
		switch local[i] {
		case '\\':
			i++
			if i >= len(local)-1 {
				return false // the closing quote was escaped
			}
		case '"':
			return false
		}
	}
	return true
}

// Quote returns addr (local@domain, split at the last "@") ready for the
// wire: unchanged when the local part is a dot-atom, else with the local
// part as an RFC 5321 §4.1.2 Quoted-string in which `"` and `\` are
// escaped with `\`. An address whose local part is already a quoted-string
// is returned unchanged, so Quote(Quote(a)) == Quote(a). An address
// without "@" is returned unchanged. Quote does not validate: control
// characters cannot be written in any form and are the caller's to refuse.
//
//	Quote("taro.yamada@example.jp")    = taro.yamada@example.jp
//	Quote("taro..yamada@docomo.ne.jp") = "taro..yamada"@docomo.ne.jp
func Quote(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || IsDotAtom(addr[:at]) || isQuotedString(addr[:at]) {
		return addr
	}
	return string(AppendQuoted(make([]byte, 0, len(addr)+4), addr))
}

// AppendQuoted appends Quote(addr) to dst without allocating when dst has
// room (the per-recipient render path).
func AppendQuoted(dst []byte, addr string) []byte {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || IsDotAtom(addr[:at]) || isQuotedString(addr[:at]) {
		return append(dst, addr...)
	}
	dst = append(dst, '"')
	for i := 0; i < at; i++ {
		if c := addr[i]; c == '"' || c == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, addr[i])
	}
	dst = append(dst, '"')
	return append(dst, addr[at:]...)
}
