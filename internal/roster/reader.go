// Package roster owns the alumni roster: reading HR's CSV files (UTF-8 or
// CP932, English or Japanese headers, checked row by row), loading them into
// Postgres with COPY and one set-based upsert, exporting them for Excel, and
// the per-person operations (show, unsubscribe, resubscribe, forget).
//
// The reader (Reader) is pure: it never touches the database, so every rule
// about a row can be tested and fuzzed on its own. The store side (Store)
// takes the reader's rows and applies the rules that need the database.
package roster

import (
	"errors"
	"fmt"
	"io"
	"time"
	// Embedded zone data, so that time-zone validation gives the same answer
	// on every host, whatever its /usr/share/zoneinfo holds.
	_ "time/tzdata"
)

// ErrNotRoster is wrapped by errors about a file that is not a roster CSV at
// all (binary data, no email column, an unreadable header).
var ErrNotRoster = errors.New("not a roster CSV")

// Row is one valid roster row. An empty string, nil slice or nil pointer is
// an empty cell: the stored value stays as it is.
type Row struct {
	Line     int    // physical line where the record starts
	RawEmail string // the address as written
	Email    string // the stored form: CanonicalEmail (unquoted, lower-cased)

	FamilyName, GivenName         string
	FamilyNameKana, GivenNameKana string
	EmployeeID                    string
	Department                    string
	JoinedOn, LeftOn              *time.Time // dates, midnight UTC
	Locale                        string     // "ja" or "en"
	Timezone                      string     // IANA name
	Tags                          []string   // nil: empty cell
	Consent                       *bool
	ConsentedAt                   *time.Time
	ConsentSource                 string
}

// Rejection is a row that was not imported, and why.
type Rejection struct {
	Line   int    `json:"line"`
	Email  string `json:"email"`
	Reason string `json:"reason"`
}

// ReaderOptions tune a Reader.
type ReaderOptions struct {
	// Now is the clock used to refuse consent dates in the future
	// (default time.Now).
	Now func() time.Time
	// Encoding forces the file's encoding: EncodingUTF8 (a BOM is still
	// skipped) or EncodingCP932. Empty: detect it (see Detection).
	Encoding string
}

// Reader reads roster rows from a CSV file as a stream.
type Reader struct {
	dec   *decoder
	sc    *scanner
	hdr   *header
	rec   record
	now   time.Time
	zones map[string]*time.Location
}

// NewReader detects the file's encoding, reads its header and returns a
// Reader positioned at the first row. An error wrapping ErrNotRoster means
// the file is not a roster CSV at all.
func NewReader(r io.Reader, opts ReaderOptions) (*Reader, error) {
	dec, err := newDecoder(r, opts.Encoding)
	if err != nil {
		return nil, err
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	rd := &Reader{dec: dec, sc: newScanner(dec), now: now(), zones: map[string]*time.Location{}}
	if err := rd.sc.next(&rd.rec); err != nil {
		if err == io.EOF {
			return nil, fmt.Errorf("%w: the file is empty: line 1 must be the header", ErrNotRoster)
		}
		return nil, err
	}
	if rd.hdr, err = parseHeader(&rd.rec); err != nil {
		return nil, err
	}
	return rd, nil
}

// Warnings are the problems with the header that did not stop the read
// (unknown columns).
func (r *Reader) Warnings() []Warning { return r.hdr.warnings }

// Encoding names the encoding the file was read in; final once Next has
// returned io.EOF.
func (r *Reader) Encoding() string { return r.dec.Encoding() }

// Detection says how the encoding was chosen and whether the choice was
// close; final once Next has returned io.EOF.
func (r *Reader) Detection() Detection { return r.dec.detection }

// Next returns the next record: a valid row, or a rejection saying why the
// record is not one. It returns io.EOF after the last record, or an error
// reading the file.
//
// Records whose cells are all empty (",,,," rows Excel leaves below the
// data) are skipped.
func (r *Reader) Next() (Row, *Rejection, error) {
	for {
		if err := r.sc.next(&r.rec); err != nil {
			return Row{}, nil, err
		}
		if !blank(&r.rec) {
			return r.parse(&r.rec)
		}
	}
}

// blank reports whether every cell of rec is empty or spaces.
func blank(rec *record) bool {
	if rec.err != "" {
		return false
	}
	for i, f := range rec.fields {
		if rec.long[i] || trimSpace(f) != "" {
			return false
		}
	}
	return true
}
