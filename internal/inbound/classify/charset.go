package classify

import (
	"bytes"
	"encoding/base64"
	"io"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/transform"
)

// Japanese mail arrives in three legacy encodings, often labelled wrongly
// (domain.md §3): ISO-2022-JP (7-bit, escape sequences), Shift_JIS as
// Windows writes it (CP932: NEC and IBM extensions such as ① and 髙) and
// EUC-JP. golang.org/x/text's decoders follow the WHATWG Encoding
// Standard, whose Shift_JIS is CP932 and whose ISO-2022-JP accepts the
// CP932 extension rows, so one decoder per family covers the variants.

// jpFamily is a Japanese encoding family, or none.
type jpFamily int

const (
	notJapanese jpFamily = iota
	jpISO2022
	jpShiftJIS
	jpEUC
)

// japaneseLabel maps the labels seen in the wild (IANA names, aliases,
// vendor names) to their family.
func japaneseLabel(label string) jpFamily {
	switch label {
	case "iso-2022-jp", "csiso2022jp", "iso-2022-jp-1", "iso-2022-jp-2", "iso-2022-jp-3",
		"iso-2022-jp-2004", "iso-2022-jp-ms", "cp50220", "cp50221", "cp50222", "jis", "x-jis",
		"iso2022jp", "iso-2022jp":
		return jpISO2022
	case "shift_jis", "shift-jis", "sjis", "x-sjis", "ms_kanji", "csshiftjis", "windows-31j",
		"cswindows31j", "cp932", "ms932", "x-ms-cp932", "ibm-943", "shift_jisx0213", "shift_jis-2004",
		"sjis-win", "sjis-open", "x-sjis-open", "shiftjis":
		return jpShiftJIS
	case "euc-jp", "x-euc-jp", "eucjp", "ujis", "x-euc", "cseucpkdfmtjapanese", "eucjp-win",
		"eucjp-ms", "euc-jis-2004", "euc-jisx0213", "eucjp-open":
		return jpEUC
	}
	return notJapanese
}

func (f jpFamily) encoding() encoding.Encoding {
	switch f {
	case jpISO2022:
		return japanese.ISO2022JP
	case jpShiftJIS:
		return japanese.ShiftJIS
	case jpEUC:
		return japanese.EUCJP
	}
	return nil
}

// normLabel lower-cases a charset label and drops quotes, spaces and an
// RFC 2231 language suffix ("utf-8*ja").
func normLabel(label string) string {
	label = strings.ToLower(strings.Trim(strings.TrimSpace(label), `"' `))
	if i := strings.IndexByte(label, '*'); i >= 0 {
		label = label[:i]
	}
	return label
}

func isUTF8Label(label string) bool {
	switch label {
	case "utf-8", "utf8", "x-utf_8j", "unicode-1-1-utf-8", "unicode-2-0-utf-8", "x-unicode20utf8":
		return true
	}
	return false
}

func isASCIILabel(label string) bool {
	switch label {
	case "", "us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "us", "csascii", "default", "7bit", "unknown", "unknown-8bit", "x-unknown":
		return true
	}
	return false
}

// isSingleByteLabel says whether a label names a one-byte-per-character
// Western charset, the kind Japanese text is most often mislabelled as.
func isSingleByteLabel(label string) bool {
	return strings.HasPrefix(label, "iso-8859-") || strings.HasPrefix(label, "iso8859-") ||
		strings.HasPrefix(label, "windows-125") || strings.HasPrefix(label, "cp125") ||
		label == "latin1" || label == "l1" || label == "iso_8859-1" || label == "cp819"
}

// hasEscapeJIS reports an ISO-2022-JP designation: ESC $ @, ESC $ B,
// ESC ( B, ESC ( J or ESC ( I (RFC 1468; JIS X 0201 katakana).
func hasEscapeJIS(b []byte) bool {
	for i := 0; i+2 < len(b); i++ {
		if b[i] != 0x1b {
			continue
		}
		switch {
		case b[i+1] == '$' && (b[i+2] == '@' || b[i+2] == 'B' || b[i+2] == '('),
			b[i+1] == '(' && (b[i+2] == 'B' || b[i+2] == 'J' || b[i+2] == 'I'):
			return true
		}
	}
	return false
}

func hasHighBytes(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// decodeWith runs enc's decoder over b; invalid input becomes U+FFFD.
func decodeWith(enc encoding.Encoding, b []byte) (string, bool) {
	out, _, err := transform.Bytes(enc.NewDecoder(), b)
	if err != nil {
		return "", false
	}
	return string(out), true
}

// japaneseScore rates how much a decoding looks like Japanese text:
// kana and kanji score, half-width katakana (rare in real prose, common
// in EUC-JP read as Shift_JIS) and replacement characters cost.
func japaneseScore(s string) (score, kana, bad int) {
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			score -= 20
			bad++
		case r >= 0x3041 && r <= 0x309f: // hiragana
			score += 3
			kana++
		case r >= 0x30a0 && r <= 0x30ff: // katakana
			score += 2
			kana++
		case r >= 0x4e00 && r <= 0x9fff, r >= 0x3000 && r <= 0x303f, r >= 0xff01 && r <= 0xff5e:
			score += 2
		case r >= 0xff61 && r <= 0xff9f: // half-width katakana
			score--
		case r < 0x20 && r != '\t' && r != '\n' && r != '\r' && r != 0x1b, r >= 0x80 && r < 0xa0:
			score -= 5
			bad++
		}
	}
	return score, kana, bad
}

// bestJapanese decodes b with each Japanese family and keeps the one that
// reads most like Japanese.
func bestJapanese(b []byte, first jpFamily) (text string, score, kana, bad int) {
	families := []jpFamily{jpShiftJIS, jpEUC, jpISO2022}
	if first != notJapanese {
		families = append([]jpFamily{first}, families...)
	}
	score = -1 << 30
	for _, f := range families {
		if f == jpISO2022 && !hasEscapeJIS(b) {
			continue
		}
		s, ok := decodeWith(f.encoding(), b)
		if !ok {
			continue
		}
		sc, k, bd := japaneseScore(s)
		if sc > score {
			text, score, kana, bad = s, sc, k, bd
		}
	}
	return text, score, kana, bad
}

// decodeText turns the bytes of a text part (or of an encoded word) into
// UTF-8. label is the declared charset, which is trusted only as far as
// the bytes agree with it: ISO-2022-JP escapes are recognised under any
// label, valid UTF-8 is kept as UTF-8, 8-bit bytes under no label, an
// ASCII label or a Western single-byte label are tested as Shift_JIS and
// EUC-JP, and Shift_JIS/EUC-JP labels are checked against each other
// (mislabelled Japanese mail, domain.md §3).
func decodeText(b []byte, label string) string {
	label = normLabel(label)
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	jp := japaneseLabel(label)
	high := hasHighBytes(b)
	if !high {
		if hasEscapeJIS(b) {
			if s, ok := decodeWith(japanese.ISO2022JP, b); ok {
				return s
			}
		}
		if jp != notJapanese || isASCIILabel(label) || isUTF8Label(label) {
			return string(b)
		}
		// UTF-7, UTF-16 and the like are 7-bit or binary: let the label speak.
		if s, ok := labelled(b, label); ok {
			return s
		}
		return string(b)
	}
	if utf8.Valid(b) && !hasEscapeJIS(b) {
		// Real Shift_JIS or EUC-JP prose is almost never valid UTF-8, and
		// UTF-8 labelled as Latin-1 is a common mistake.
		if label == "" || jp != notJapanese || isASCIILabel(label) || isUTF8Label(label) || isSingleByteLabel(label) {
			return string(b)
		}
	}
	if jp != notJapanese {
		s, _, _, _ := bestJapanese(b, jp)
		return s
	}
	if isASCIILabel(label) || isUTF8Label(label) {
		s, _, _, bad := bestJapanese(b, notJapanese)
		if bad == 0 {
			return s
		}
		if isUTF8Label(label) {
			return strings.ToValidUTF8(string(b), "\ufffd")
		}
		if l, ok := labelled(b, "windows-1252"); ok {
			return l
		}
		return s
	}
	if isSingleByteLabel(label) {
		if s, _, kana, bad := bestJapanese(b, notJapanese); bad == 0 && kana > 0 {
			return s
		}
	}
	if s, ok := labelled(b, label); ok {
		return s
	}
	// An unknown label: guess.
	s, _, _, bad := bestJapanese(b, notJapanese)
	if bad == 0 {
		return s
	}
	return strings.ToValidUTF8(string(b), "\ufffd")
}

// labelled decodes b with go-message's charset table (IANA and WHATWG
// labels).
func labelled(b []byte, label string) (string, bool) {
	if label == "" {
		return "", false
	}
	r, err := charset.Reader(label, bytes.NewReader(b))
	if err != nil || r == nil {
		return "", false
	}
	out, err := io.ReadAll(io.LimitReader(r, maxDecoded))
	if err != nil && len(out) == 0 {
		return "", false
	}
	return strings.ToValidUTF8(string(out), "\ufffd"), true
}

// encodedWord matches an RFC 2047 encoded word, tolerating lower-case
// encodings and an RFC 2231 language suffix in the charset.
var encodedWord = regexp.MustCompile(`=\?([^?\s]+)\?([bBqQ])\?([^?\r\n]*)\?=`)

// decodeHeader decodes a header field value to UTF-8 (RFC 2047). It is
// lenient where real mailers are broken: raw 8-bit Japanese in the field
// (decoded as in decodeText), adjacent encoded words whose bytes split a
// character (their bytes are joined before decoding, RFC 2047 §6.2 allows
// no split, but mailers do it), encoded words not separated by white
// space, bad padding, unknown charsets (guessed from the bytes).
func decodeHeader(v string) string {
	if hasHighBytes([]byte(v)) || strings.IndexByte(v, 0x1b) >= 0 {
		v = decodeText([]byte(v), "")
	}
	v = unfold(v)
	if !strings.Contains(v, "=?") {
		return strings.TrimSpace(v)
	}
	var out strings.Builder
	var pend []byte
	var pendLabel string
	flush := func() {
		if pendLabel != "" || len(pend) > 0 {
			out.WriteString(decodeText(pend, pendLabel))
		}
		pend, pendLabel = nil, ""
	}
	last := 0
	for _, m := range encodedWord.FindAllStringSubmatchIndex(v, -1) {
		between := v[last:m[0]]
		if strings.TrimSpace(between) != "" || pendLabel == "" {
			flush()
			out.WriteString(between)
		}
		label := normLabel(v[m[2]:m[3]])
		data := wordBytes(v[m[4]:m[5]], v[m[6]:m[7]])
		if pendLabel != "" && pendLabel != label {
			flush()
		}
		pendLabel = label
		pend = append(pend, data...)
		last = m[1]
	}
	flush()
	out.WriteString(v[last:])
	return strings.TrimSpace(out.String())
}

// wordBytes decodes the text of one encoded word.
func wordBytes(enc, text string) []byte {
	if enc == "b" || enc == "B" {
		// Keep the base64 alphabet only; a last group of one character
		// carries no whole byte.
		clean := make([]byte, 0, len(text))
		for i := 0; i < len(text); i++ {
			c := text[i]
			if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' {
				clean = append(clean, c)
			}
		}
		if len(clean)%4 == 1 {
			clean = clean[:len(clean)-1]
		}
		out := make([]byte, base64.RawStdEncoding.DecodedLen(len(clean)))
		n, _ := base64.RawStdEncoding.Decode(out, clean)
		return out[:n]
	}
	out := make([]byte, 0, len(text))
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c == '_':
			out = append(out, ' ')
		case c == '=' && i+2 < len(text) && isHex(text[i+1]) && isHex(text[i+2]):
			out = append(out, unhex(text[i+1])<<4|unhex(text[i+2]))
			i += 2
		default:
			out = append(out, c)
		}
	}
	return out
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// unfold joins folded header lines (RFC 5322 §2.2.3) and drops stray CR/LF.
func unfold(v string) string {
	if !strings.ContainsAny(v, "\r\n") {
		return v
	}
	v = strings.ReplaceAll(v, "\r\n", "\n")
	v = strings.ReplaceAll(v, "\r", "\n")
	lines := strings.Split(v, "\n")
	for i := range lines {
		if i > 0 {
			lines[i] = strings.TrimLeft(lines[i], " \t")
		}
	}
	return strings.Join(lines, " ")
}
