package render

import (
	"encoding/base64"
	"unicode"
	"unicode/utf8"

	"github.com/kizuna-alumni/kizuna/internal/address"
)

// Header text and addresses (RFC 5322, RFC 2047).
//
// Every encoded header of a message (Subject, the display names of From,
// Reply-To and To) goes through appendEncodedWords. A display name that
// fits one encoded-word is one word, and so is a subject that fits one
// word on its first line: readers that do not follow RFC 2047 §6.2
// (Python's email.policy.default among them) show a space between two
// adjacent words of a display name, so splitting a name that need not be
// split puts a stray space into it. Longer values are split at a space of
// the text, else between words (a change of script or a punctuation mark,
// for Japanese), never inside a character.

const (
	// maxWordLen is the longest encoded-word (RFC 2047 §2).
	maxWordLen = 75
	// maxLineLen is the longest header line, CRLF excluded (RFC 5322 §2.1.1).
	maxLineLen = 78
	// maxWordLineLen is the longest line that holds an encoded-word (RFC
	// 2047 §2).
	maxWordLineLen = 76
	// wordOverhead is the length of "=?UTF-8?B?" and "?=".
	wordOverhead = len("=?UTF-8?B?") + len("?=")
)

// appendHeaderText writes an unstructured header value (Subject; RFC 5322
// §3.2.5) that starts at column col (after "Name: "): as it is when it is
// printable ASCII, folded at its spaces when longer than a line, else as
// encoded-words (appendEncodedWords).
func appendHeaderText(dst []byte, col int, v string) []byte {
	if plainASCII(v) {
		if col+len(v) <= maxLineLen {
			return append(dst, v...)
		}
		if out, ok := appendFoldedASCII(dst, col, v); ok {
			return out
		}
	}
	dst, _ = appendEncodedWords(dst, col, v, false)
	return dst
}

// appendAddress writes an address header value that starts at column col:
// `name <addr>`, or `<addr>` when name is empty (RFC 5322 §3.4 name-addr;
// the display name is optional). The name is a quoted-string when it is printable ASCII and fits
// the line, else encoded-words (then the line ends by column 76, RFC 2047
// §2); the address has its local part quoted when
// it is not a dot-atom (address.AppendQuoted). The line is folded before
// "<" when the address does not fit after the name.
func appendAddress(dst []byte, col int, name, addr string) []byte {
	if name == "" {
		return append(address.AppendQuoted(append(dst, '<'), addr), '>')
	}
	limit := maxLineLen
	if plainASCII(name) && col+quotedLen(name) <= maxLineLen {
		dst = appendQuotedString(dst, name)
		col += quotedLen(name)
	} else {
		dst, col = appendEncodedWords(dst, col, name, true)
		limit = maxWordLineLen
	}
	mark := len(dst)
	dst = append(dst, " <"...)
	dst = address.AppendQuoted(dst, addr)
	dst = append(dst, '>')
	if col+len(dst)-mark > limit {
		// Fold at the space before "<": it becomes CRLF SP.
		dst = append(dst, 0, 0)
		copy(dst[mark+2:], dst[mark:])
		dst[mark], dst[mark+1] = '\r', '\n'
	}
	return dst
}

// plainASCII reports whether v can be written as it is: printable ASCII
// without "=?", which a reader would take for the start of an encoded-word.
func plainASCII(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c >= 0x7f || c == '=' && i+1 < len(v) && v[i+1] == '?' {
			return false
		}
	}
	return true
}

// quotedLen is the length of v as a quoted-string.
func quotedLen(v string) int {
	n := len(v) + 2
	for i := 0; i < len(v); i++ {
		if v[i] == '"' || v[i] == '\\' {
			n++
		}
	}
	return n
}

// appendQuotedString writes printable ASCII v as an RFC 5322 §3.2.4
// quoted-string.
func appendQuotedString(dst []byte, v string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(v); i++ {
		if v[i] == '"' || v[i] == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, v[i])
	}
	return append(dst, '"')
}

// appendFoldedASCII writes printable ASCII v folded at its spaces so that
// no line exceeds maxLineLen (RFC 5322 §3.2.2: a fold is CRLF before
// whitespace, and unfolding removes only the CRLF). It reports false, with
// dst unchanged, when a run of v without spaces is too long for a line.
func appendFoldedASCII(dst []byte, col int, v string) ([]byte, bool) {
	start := len(dst)
	for i := 0; i < len(v); {
		// A segment is a space (but at the start) and the text up to the next space.
		j := i
		if v[j] == ' ' {
			j++
		}
		for j < len(v) && v[j] != ' ' {
			j++
		}
		switch seg := v[i:j]; {
		case col+len(seg) <= maxLineLen:
			dst = append(dst, seg...)
			col += len(seg)
		case i > 0 && len(seg) <= maxLineLen:
			dst = append(append(dst, '\r', '\n'), seg...)
			col = len(seg)
		default:
			return dst[:start], false
		}
		i = j
	}
	return dst, true
}

// appendEncodedWords writes v, which starts at column col, as RFC 2047
// UTF-8 encoded-words, each "B" or "Q", whichever is shorter (Q as
// restricted for phrases, RFC 2047 §5(3), so the same words serve display
// names and unstructured text). A longer v is split at a space (kept,
// encoded, at the end of the first word, since whitespace between
// encoded-words is not part of the text, RFC 2047 §6.2), else where words
// meet (breakRank), else between characters. Words go on the current line
// while it stays within maxWordLineLen, else on a new folded line.
//
// phrase says v is a display name: it is one word whenever it fits in
// maxWordLen, on a line of its own after "Name:" if need be (address
// parsers skip the fold). Unstructured text (Subject) never folds before
// its first word, because readers keep that fold as a leading space
// (Python's email.policy.default does): its first word is as long as the
// first line allows, and a value that fits one word but not that line is
// two words, which every reader joins without a space in unstructured
// text. It returns dst and the column after the last word.
func appendEncodedWords(dst []byte, col int, v string, phrase bool) ([]byte, int) {
	for first := true; len(v) > 0; first = false {
		limit := maxWordLen
		if first && !phrase {
			limit = max(min(maxWordLen, maxWordLineLen-col), wordOverhead+8)
		}
		n := nextWord(v, limit)
		q := qLen(v[:n]) < bLen(n)
		l := wordOverhead + bLen(n)
		if q {
			l = wordOverhead + qLen(v[:n])
		}
		switch {
		case first && (col+l <= maxWordLineLen || !phrase):
		case !first && col+1+l <= maxWordLineLen:
			dst = append(dst, ' ')
			col++
		default:
			if first && len(dst) > 0 && dst[len(dst)-1] == ' ' {
				dst = dst[:len(dst)-1] // "Name:" CRLF SP, no space at the end of a line
			}
			dst = append(dst, '\r', '\n', ' ')
			col = 1
		}
		dst = appendWord(dst, v[:n], q)
		col += l
		v = v[n:]
	}
	return dst, col
}

// nextWord returns how many bytes of v go into its next encoded-word of
// at most limit characters: all of v when they fit, else the longest
// prefix that fits and ends at the best break (highest breakRank, latest
// among equals).
func nextWord(v string, limit int) int {
	if wordOverhead+bLen(len(v)) <= limit {
		return len(v)
	}
	best, bestRank, q := 0, -1, 0
	prev := rune(-1)
	for i := 0; i < len(v); {
		r, size := utf8.DecodeRuneInString(v[i:])
		if i > 0 {
			if rk := breakRank(prev, r); rk >= bestRank {
				best, bestRank = i, rk
			}
		}
		q += qLen(v[i : i+size])
		if wordOverhead+min(bLen(i+size), q) > limit {
			return best // i > 0: a single character always fits
		}
		prev, i = r, i+size
	}
	return len(v)
}

// breakRank says how good a place for a split the point between runes a
// and b is: 5 after a space; 4 after punctuation or before an opening
// bracket; 3 where katakana or Latin meets another script (loanwords and
// names are whole words: サンプル|技研|アルムナイ); 2 from hiragana to kanji
// (a particle ends: の|案内); 1 from kanji to hiragana (often inside a
// word: 申し込み); 0 anywhere else between two characters.
func breakRank(a, b rune) int {
	// Most of a Japanese subject is kana and kanji, which are neither
	// spaces nor punctuation: their scripts are read from the code point
	// without the Unicode tables.
	if sa, sb := kanaOrKanji(a), kanaOrKanji(b); sa != scriptOther && sb != scriptOther {
		return scriptRank(sa, sb)
	}
	switch {
	case unicode.IsSpace(a):
		return 5
	case unicode.IsSpace(b):
		return 0 // keep the space with the text before it
	case unicode.In(b, unicode.Ps, unicode.Pi):
		return 4
	case unicode.IsPunct(a) && !unicode.In(a, unicode.Ps, unicode.Pi) && !unicode.IsPunct(b):
		return 4
	}
	return scriptRank(script(a), script(b))
}

// scriptRank is breakRank between two characters that are neither spaces
// nor punctuation, by their scripts.
func scriptRank(sa, sb int) int {
	switch {
	case sa == sb:
		return 0
	case sa == scriptKatakana || sb == scriptKatakana || sa == scriptLatin || sb == scriptLatin:
		return 3
	case sa == scriptHiragana && sb == scriptKanji:
		return 2
	case sa == scriptKanji && sb == scriptHiragana:
		return 1
	}
	return 0
}

// The scripts breakRank tells apart.
const (
	scriptOther = iota
	scriptLatin
	scriptHiragana
	scriptKatakana
	scriptKanji
)

// kanaOrKanji is script for the blocks most Japanese text is made of —
// Hiragana (U+3041–U+3096), Katakana (U+30A1–U+30FA and ー) and the CJK
// Unified Ideographs (U+4E00–U+9FFF) — and scriptOther for any other
// rune. TestKanaOrKanjiAgreesWithScript checks it against script.
func kanaOrKanji(r rune) int {
	switch {
	case r >= 0x4E00 && r <= 0x9FFF:
		return scriptKanji
	case r >= 0x3041 && r <= 0x3096:
		return scriptHiragana
	case r >= 0x30A1 && r <= 0x30FA || r == 'ー':
		return scriptKatakana
	}
	return scriptOther
}

// script classes a rune for breakRank: Latin stands for letters and
// digits outside the Japanese scripts, katakana includes the prolonged
// sound mark ー, kanji includes 々 and 〆.
func script(r rune) int {
	switch {
	case r < 0x80:
		if r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return scriptLatin
		}
		return scriptOther
	case unicode.Is(unicode.Hiragana, r):
		return scriptHiragana
	case unicode.Is(unicode.Katakana, r) || r == 'ー' || r == 'ｰ':
		return scriptKatakana
	case unicode.Is(unicode.Han, r) || r == '々' || r == '〆':
		return scriptKanji
	case unicode.IsLetter(r) || unicode.IsDigit(r):
		return scriptLatin
	}
	return scriptOther
}

// bLen is the length of n bytes in base64.
func bLen(n int) int { return (n + 2) / 3 * 4 }

// qLen is the length of s in "Q" encoding.
func qLen(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if qPlain(s[i]) {
			n++
		} else {
			n += 3
		}
	}
	return n
}

// qPlain reports whether c stands for itself in a "Q" encoded-word that
// may sit in a phrase (RFC 2047 §5(3)); a space is written "_".
func qPlain(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '!' || c == '*' || c == '+' || c == '-' || c == '/' || c == ' '
}

// appendWord writes one encoded-word of s: "Q" when q, else "B".
func appendWord(dst []byte, s string, q bool) []byte {
	if !q {
		dst = append(dst, "=?UTF-8?B?"...)
		dst = base64.StdEncoding.AppendEncode(dst, []byte(s))
		return append(dst, "?="...)
	}
	const hex = "0123456789ABCDEF"
	dst = append(dst, "=?UTF-8?Q?"...)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ':
			dst = append(dst, '_')
		case qPlain(c):
			dst = append(dst, c)
		default:
			dst = append(dst, '=', hex[c>>4], hex[c&15])
		}
	}
	return append(dst, "?="...)
}
