package roster

import (
	"bufio"
	"fmt"
	"io"
)

// Limits on one record. They exist so that hostile input (a 10 MB field, a
// line of a million commas) costs constant memory: beyond them the scanner
// only counts.
const (
	// MaxFieldChars is the longest field accepted, in characters.
	MaxFieldChars = 1000
	// maxFieldBytes is what the scanner keeps of a field: enough for
	// MaxFieldChars characters of up to 4 bytes, plus one more so that an
	// over-long field is still recognised as such.
	maxFieldBytes = 4*MaxFieldChars + 4
	// maxFields is the most fields kept per record.
	maxFields = 256
)

// record is one CSV record as scanned: its fields, the physical line it
// starts on, and the first syntax problem found in it (the scanner recovers
// and keeps going, so one bad record never hides the next).
type record struct {
	line   int
	fields []string
	long   []bool // the field was longer than maxFieldBytes and was cut
	err    string
}

// scanner reads RFC 4180 records from UTF-8 text: comma-separated fields,
// double-quoted fields that may hold commas, quotes ("") and line breaks,
// records ending at LF or CRLF. Blank lines are skipped, as Excel writes
// them and encoding/csv skips them. Unlike encoding/csv it bounds the memory
// of every record and knows the physical line where each record starts.
type scanner struct {
	br   *bufio.Reader
	line int // physical line of the next byte, 1-based

	buf     []byte
	starts  []int
	long    []bool
	nfields int // fields seen in the record, including those not kept
}

func newScanner(r io.Reader) *scanner {
	return &scanner{br: bufio.NewReaderSize(r, 64<<10), line: 1}
}

// next scans the following record into rec. It returns io.EOF when the input
// holds no more records, or the underlying read error.
func (s *scanner) next(rec *record) error {
	s.buf, s.starts, s.long, s.nfields = s.buf[:0], s.starts[:0], s.long[:0], 0
	rec.err = ""
	// Skip blank lines between records.
	for {
		c, err := s.br.ReadByte()
		if err != nil {
			return err
		}
		if c == '\n' {
			s.line++
			continue
		}
		if c == '\r' {
			if nx, err := s.br.Peek(1); err == nil && nx[0] == '\n' {
				continue
			}
		}
		s.br.UnreadByte()
		break
	}
	rec.line = s.line

	const (
		fieldStart = iota
		unquoted
		quoted
		afterQuote
	)
	state := fieldStart
	quoteLine := 0
	fieldLen := 0
	s.newField()
	add := func(c byte) {
		if s.nfields > maxFields {
			return
		}
		fieldLen++
		if fieldLen > maxFieldBytes {
			s.long[len(s.long)-1] = true
			return
		}
		s.buf = append(s.buf, c)
	}
	fail := func(msg string) {
		if rec.err == "" {
			rec.err = msg
		}
	}
	endField := func() {
		fieldLen = 0
		s.newField()
		state = fieldStart
	}
	for {
		c, err := s.br.ReadByte()
		if err == io.EOF {
			if state == quoted {
				fail(fmt.Sprintf("quoted field opened on line %d is never closed", quoteLine))
			}
			break
		}
		if err != nil {
			return err
		}
		if c == '\n' {
			s.line++
		}
		switch state {
		case fieldStart, unquoted:
			switch c {
			case ',':
				endField()
				continue
			case '\n':
			case '\r':
				if nx, err := s.br.Peek(1); err == nil && nx[0] == '\n' {
					continue // CRLF: the LF ends the record
				}
				add(c)
				state = unquoted
				continue
			case '"':
				if state == fieldStart {
					state, quoteLine = quoted, s.line
					continue
				}
				fail(`a quote (") inside an unquoted field; quote the whole field and double the quote`)
				add(c)
				continue
			default:
				add(c)
				state = unquoted
				continue
			}
		case quoted:
			if c == '"' {
				if nx, err := s.br.Peek(1); err == nil && nx[0] == '"' {
					s.br.ReadByte()
					add('"')
					continue
				}
				state = afterQuote
				continue
			}
			if c == '\r' {
				if nx, err := s.br.Peek(1); err == nil && nx[0] == '\n' {
					continue // a CRLF inside quotes reads as LF, as in encoding/csv
				}
			}
			add(c)
			continue
		case afterQuote:
			switch c {
			case ',':
				endField()
				continue
			case '\n':
			case '\r':
				if nx, err := s.br.Peek(1); err == nil && nx[0] == '\n' {
					continue
				}
				fail(`text after the closing quote of a field`)
				add(c)
				state = unquoted
				continue
			default:
				fail(`text after the closing quote of a field`)
				add(c)
				state = unquoted
				continue
			}
		}
		break // an LF outside quotes ends the record
	}
	if s.nfields > maxFields {
		fail(fmt.Sprintf("more than %d fields", maxFields))
	}
	s.finish(rec)
	return nil
}

func (s *scanner) newField() {
	s.nfields++
	if s.nfields <= maxFields {
		s.starts = append(s.starts, len(s.buf))
		s.long = append(s.long, false)
	}
}

// finish turns the buffered fields into strings with one allocation.
func (s *scanner) finish(rec *record) {
	n := len(s.starts)
	all := string(s.buf)
	rec.fields = rec.fields[:0]
	rec.long = append(rec.long[:0], s.long[:n]...)
	for i := range n {
		end := len(all)
		if i+1 < len(s.starts) {
			end = s.starts[i+1]
		}
		rec.fields = append(rec.fields, all[s.starts[i]:end])
	}
}
