package roster

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/transform"
)

// Encodings a roster file may be written in.
const (
	EncodingUTF8    = "utf-8"
	EncodingUTF8BOM = "utf-8 (BOM)"
	EncodingCP932   = "cp932"
)

// sniffSize is how much of the file the encoding is judged on, from the
// first non-ASCII byte: bytes that are not valid UTF-8 there are CP932;
// bytes that are valid UTF-8 are read both ways and the more plausible
// reading wins (detect). A window this size decides reliably while the rest
// of the file is still streamed.
const sniffSize = 64 << 10

// decoder turns the raw file into UTF-8 as a stream. It passes an ASCII
// prefix through unchanged (ASCII reads the same in both encodings) and
// decides between UTF-8 and CP932 at the first non-ASCII byte.
type decoder struct {
	br        *bufio.Reader
	out       io.Reader // set once the encoding is decided
	encoding  string
	bom       bool
	detection Detection
	lineHead  []byte // the ASCII passed through since the last line end (its last sampleRunes bytes), for the samples
}

// newDecoder checks the start of the file for things that are certainly not
// a CSV roster (UTF-16, binary data) and returns the decoding reader. force
// is "" (detect), EncodingUTF8 or EncodingCP932.
func newDecoder(r io.Reader, force string) (*decoder, error) {
	switch force {
	case "", EncodingUTF8, EncodingCP932:
	default:
		return nil, fmt.Errorf("unknown encoding %q (utf-8 or cp932)", force)
	}
	d := &decoder{br: bufio.NewReaderSize(r, sniffSize)}
	head, err := d.br.Peek(sniffSize)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, fmt.Errorf("read: %w", err)
	}
	switch {
	case force != EncodingCP932 && bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		d.bom = true
		d.br.Discard(3)
		d.decide(EncodingUTF8BOM)
		head = head[3:]
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}), bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		return nil, fmt.Errorf("%w: the file is UTF-16; save it as \"CSV UTF-8\" or \"CSV\" (Shift_JIS)", ErrNotRoster)
	}
	if bytes.IndexByte(head, 0) >= 0 {
		return nil, fmt.Errorf("%w: the file holds binary data (NUL bytes), not text", ErrNotRoster)
	}
	if force != "" {
		d.detection.Forced = true
		if !d.bom {
			d.decide(force)
		}
	}
	return d, nil
}

// Encoding names the encoding the file was read in; a file that was all
// ASCII (or not read yet) reports utf-8.
func (d *decoder) Encoding() string {
	if d.encoding == "" {
		return EncodingUTF8
	}
	return d.encoding
}

func (d *decoder) decide(enc string) {
	d.encoding = enc
	d.detection.Encoding = enc
	if enc == EncodingCP932 {
		d.out = transform.NewReader(d.br, japanese.ShiftJIS.NewDecoder())
		return
	}
	d.out = d.br
}

func (d *decoder) Read(p []byte) (int, error) {
	if d.out != nil {
		return d.out.Read(p)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if _, err := d.br.Peek(1); err != nil {
		return 0, err
	}
	buf, _ := d.br.Peek(d.br.Buffered())
	n := 0
	for n < len(buf) && n < len(p) && buf[n] < utf8.RuneSelf {
		n++
	}
	if n > 0 {
		copy(p, buf[:n])
		d.br.Discard(n)
		if i := bytes.LastIndexByte(p[:n], '\n'); i >= 0 {
			d.lineHead = append(d.lineHead[:0], p[i+1:n]...)
		} else {
			d.lineHead = append(d.lineHead, p[:n]...)
		}
		if len(d.lineHead) > sampleRunes {
			d.lineHead = append(d.lineHead[:0], d.lineHead[len(d.lineHead)-sampleRunes:]...)
		}
		return n, nil
	}
	// The first non-ASCII byte: judge the window that starts here.
	window, err := d.br.Peek(sniffSize)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return 0, err
	}
	if len(window) == sniffSize {
		window = trimPartialRune(window)
	}
	d.detection = detect(window, string(d.lineHead))
	d.decide(d.detection.Encoding)
	return d.out.Read(p)
}

// trimPartialRune drops a UTF-8 sequence cut off at the end of a full window,
// so that a window boundary inside a character does not look invalid.
func trimPartialRune(b []byte) []byte {
	for i := 1; i <= utf8.UTFMax && i <= len(b); i++ {
		if utf8.RuneStart(b[len(b)-i]) {
			if !utf8.FullRune(b[len(b)-i:]) {
				return b[:len(b)-i]
			}
			return b
		}
	}
	return b
}

// Detection says how a roster file's encoding was chosen, so that a choice
// that could be wrong is said, with what each reading looks like.
type Detection struct {
	Encoding string // the encoding read: EncodingUTF8, EncodingUTF8BOM or EncodingCP932; "" while the file was all ASCII
	Forced   bool   // given by the caller (--encoding), not detected
	// Close is true when the bytes were valid both as UTF-8 and as CP932
	// and the two readings scored within closeMargin of each other: the
	// choice may be wrong, and the samples show the user both.
	Close bool
	// UTF8Score and CP932Score are the plausibility of each reading (see
	// plausibility: 1 is all plausible, below 0 mostly implausible); set
	// when the window was valid UTF-8.
	UTF8Score, CP932Score float64
	// UTF8Sample and CP932Sample are the same short stretch of the file (the
	// line of its first non-ASCII character, at most sampleRunes characters
	// before it and 2*sampleRunes in all) in each reading, controls
	// replaced by U+FFFD: one printable line each. Set when Close.
	UTF8Sample, CP932Sample string
}

// closeMargin is how near two plausibility scores are for the choice to be
// reported as a guess. A real mistake scores far apart (half-width katakana
// against Cyrillic: 1.6); accented Latin against half-width katakana
// (José / Josﾃｩ) is within it.
const closeMargin = 0.5

// sampleRunes bounds a detection sample.
const sampleRunes = 40

// detect chooses the encoding of window, which starts at the file's first
// non-ASCII byte. Bytes that are not valid UTF-8 are CP932 (real CP932 text
// almost never passes for UTF-8 over more than a few characters). Valid
// UTF-8 can still be CP932 (half-width katakana pair up into two-byte UTF-8
// sequences: ﾐｷ is D0 B7, "з"), so both readings are scored for plausible
// roster text and the better one wins; UTF-8 wins a tie.
//
// lineHead is the ASCII start of the line the window starts in; the samples
// begin with it.
func detect(window []byte, lineHead string) Detection {
	if !utf8.Valid(window) {
		return Detection{Encoding: EncodingCP932}
	}
	asCP932, err := japanese.ShiftJIS.NewDecoder().Bytes(window)
	if err != nil {
		return Detection{Encoding: EncodingUTF8}
	}
	d := Detection{Encoding: EncodingUTF8, UTF8Score: plausibility(string(window), false), CP932Score: plausibility(string(asCP932), true)}
	if d.CP932Score > d.UTF8Score {
		d.Encoding = EncodingCP932
	}
	if diff := d.UTF8Score - d.CP932Score; diff < closeMargin && diff > -closeMargin {
		d.Close = true
		d.UTF8Sample, d.CP932Sample = sample(lineHead+string(window)), sample(lineHead+string(asCP932))
	}
	return d
}

// plausibility scores a reading of roster text: the mean over its non-ASCII
// characters of +1 for what Japanese and Latin rosters hold (kana, kanji,
// CJK and full-width punctuation, Latin letters with accents, ①, ㈱, common
// symbols) and -1 for what a wrong reading produces (Cyrillic, Greek, box
// drawing, C1 controls, private-use characters, combining marks, other
// scripts); the sure signs of a wrong reading count more: -3 for a
// replacement character (bytes invalid in that encoding). ASCII counts for
// nothing, since it reads the same both ways. Higher is more plausible; 1
// is all plausible.
//
// Half-width katakana (ﾔﾏﾀﾞ) are plausible (0.8) in a run of their own, but
// -1 right after a kanji, the signature of UTF-8 read as CP932 (縺ｧ).
// In a CP932 reading, a kanji outside JIS level 1 (lead byte 0xE0 and up)
// counts -2: text that is valid UTF-8 can only be CP932 through such rare
// kanji and half-width katakana, so real CP932 names of that kind are
// nearly all half-width katakana, while UTF-8 kana and kanji read as CP932
// come out as level-2 kanji (繝, 螻) at every few characters.
func plausibility(s string, cp932 bool) float64 {
	var sum float64
	n := 0
	var prev rune
	level2 := map[rune]bool{}
	enc := japanese.ShiftJIS.NewEncoder()
	for _, c := range s {
		p := prev
		prev = c
		if c < utf8.RuneSelf {
			continue
		}
		n++
		switch {
		case c == utf8.RuneError:
			sum -= 3
		case c >= 0xFF61 && c <= 0xFF9F: // half-width katakana
			if isKanji(p) {
				sum--
			} else {
				sum += 0.8
			}
		case isKanji(c):
			if !cp932 {
				sum++
				break
			}
			l2, ok := level2[c]
			if !ok {
				b, err := enc.String(string(c))
				l2 = err != nil || len(b) != 2 || b[0] >= 0xE0
				level2[c] = l2
			}
			if l2 {
				sum -= 2
			} else {
				sum++
			}
		case c >= 0x3000 && c <= 0x30FF, // CJK punctuation, hiragana, katakana
			c >= 0x3200 && c <= 0x33FF,                             // ㈱ ㍉
			c >= 0xFF01 && c <= 0xFF60, c >= 0xFFE0 && c <= 0xFFEE, // full-width forms
			c >= 0x00A0 && c <= 0x024F, // Latin-1 symbols, Latin letters with accents
			c >= 0x2010 && c <= 0x205E, // general punctuation
			c >= 0x2100 && c <= 0x22FF, // ℃ № ℡ arrows, ∞ ≒ (in CP932)
			c >= 0x2460 && c <= 0x24FF, // ① ⑳
			c >= 0x25A0 && c <= 0x26FF: // ○ ● □ ◆ ★
			sum++
		default: // Cyrillic, Greek, box drawing, C1, private use, other scripts
			sum--
		}
	}
	if n == 0 {
		return 1
	}
	return sum / float64(n)
}

// isKanji reports whether c is a CJK ideograph.
func isKanji(c rune) bool {
	return c >= 0x3400 && c <= 0x4DBF || c >= 0x4E00 && c <= 0x9FFF || c >= 0xF900 && c <= 0xFAFF
}

// sample is the start of text up to its first line end, at most
// 2*sampleRunes characters, with controls and the characters badChar
// refuses replaced by U+FFFD so that it prints as one line.
func sample(text string) string {
	var b strings.Builder
	n := 0
	for _, c := range text {
		if c == '\r' || c == '\n' || n == 2*sampleRunes {
			break
		}
		if _, bad := badChar(string(c)); bad {
			c = utf8.RuneError
		}
		b.WriteRune(c)
		n++
	}
	return b.String()
}
