package roster

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
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

// sniffSize is how much of the file the encoding is judged on: from the
// first non-ASCII byte, this many bytes must be valid UTF-8 for the file to
// be read as UTF-8. Real CP932 text almost never passes for UTF-8 over more
// than a few characters, so a window this size decides reliably while the
// rest of the file is still streamed.
const sniffSize = 64 << 10

// decoder turns the raw file into UTF-8 as a stream. It passes an ASCII
// prefix through unchanged (ASCII reads the same in both encodings) and
// decides between UTF-8 and CP932 at the first non-ASCII byte.
type decoder struct {
	br       *bufio.Reader
	out      io.Reader // set once the encoding is decided
	encoding string
	bom      bool
}

// newDecoder checks the start of the file for things that are certainly not
// a CSV roster (UTF-16, binary data) and returns the decoding reader.
func newDecoder(r io.Reader) (*decoder, error) {
	d := &decoder{br: bufio.NewReaderSize(r, sniffSize)}
	head, err := d.br.Peek(sniffSize)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, fmt.Errorf("read: %w", err)
	}
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
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
	if utf8.Valid(window) {
		d.decide(EncodingUTF8)
	} else {
		d.decide(EncodingCP932)
	}
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
