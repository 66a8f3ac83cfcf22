package roster

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzReadRoster feeds arbitrary bytes to the roster reader. It must never
// panic, must return only ErrNotRoster for files it refuses, and every row
// it accepts must obey the roster's rules. The seed corpus is in
// testdata/fuzz/FuzzReadRoster (CI runs it as a normal test).
func FuzzReadRoster(f *testing.F) {
	f.Add([]byte("email,name\na@example.com,山田 太郎\n"))
	f.Add([]byte("email,department\n\"a@example.com\",\"x\ny\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkReader(t, data)
		checkScannerMatchesEncodingCSV(t, data)
	})
}

func checkReader(t *testing.T, data []byte) {
	rd, err := NewReader(bytes.NewReader(data), ReaderOptions{})
	if err != nil {
		if !errors.Is(err, ErrNotRoster) {
			t.Fatalf("NewReader: %v, want an ErrNotRoster", err)
		}
		return
	}
	maxLine := bytes.Count(data, []byte("\n")) + 1
	last := 1
	for {
		row, rej, err := rd.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		line := row.Line
		if rej != nil {
			line = rej.Line
			if rej.Reason == "" {
				t.Fatalf("rejection without a reason at line %d", line)
			}
		}
		if line <= last || line > maxLine {
			t.Fatalf("record line %d after line %d (file has %d lines)", line, last, maxLine)
		}
		last = line
		if rej != nil {
			continue
		}
		if row.Email == "" || row.Email != strings.ToLower(row.Email) || !strings.Contains(row.Email, "@") {
			t.Fatalf("accepted email %q", row.Email)
		}
		if again, err := CanonicalEmail(row.Email); err != nil || again != row.Email {
			t.Fatalf("accepted email %q is not in its stored form: %q, %v", row.Email, again, err)
		}
		fields := append([]string{row.RawEmail, row.FamilyName, row.GivenName, row.FamilyNameKana, row.GivenNameKana,
			row.EmployeeID, row.Department, row.Locale, row.Timezone, row.ConsentSource}, row.Tags...)
		for _, v := range fields {
			if !utf8.ValidString(v) || utf8.RuneCountInString(v) > MaxFieldChars {
				t.Fatalf("accepted field %q", v)
			}
			if c, bad := badChar(v); bad {
				t.Fatalf("accepted field %q with control character %U", v, c)
			}
		}
		if row.Locale != "" && row.Locale != "ja" && row.Locale != "en" {
			t.Fatalf("accepted locale %q", row.Locale)
		}
	}
}

// checkScannerMatchesEncodingCSV is a differential check of the record
// scanner: on input that encoding/csv parses without error (and within the
// scanner's limits), both must see the same records starting on the same
// lines. Carriage returns are left out: encoding/csv folds some of them away
// at the end of the input, and the scanner's CRLF handling has its own tests.
func checkScannerMatchesEncodingCSV(t *testing.T, data []byte) {
	if bytes.IndexByte(data, '\r') >= 0 || !utf8.Valid(data) {
		return
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1
	var want [][]string
	var wantLines []int
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return // only compare what encoding/csv accepts
		}
		for _, f := range rec {
			if len(f) > maxFieldBytes {
				return
			}
		}
		if len(rec) > maxFields {
			return
		}
		line, _ := cr.FieldPos(0)
		want = append(want, rec)
		wantLines = append(wantLines, line)
	}
	sc := newScanner(bytes.NewReader(data))
	var rec record
	for i := 0; ; i++ {
		err := sc.next(&rec)
		if err == io.EOF {
			if i != len(want) {
				t.Fatalf("scanner found %d records, encoding/csv %d", i, len(want))
			}
			return
		}
		if err != nil {
			t.Fatalf("scanner: %v", err)
		}
		if i >= len(want) {
			t.Fatalf("scanner found an extra record %q on line %d", rec.fields, rec.line)
		}
		if rec.err != "" {
			t.Fatalf("scanner rejected record %d (%q) that encoding/csv reads as %q: %s", i, rec.fields, want[i], rec.err)
		}
		if strings.Join(rec.fields, "\x00") != strings.Join(want[i], "\x00") || len(rec.fields) != len(want[i]) {
			t.Fatalf("record %d: scanner %q, encoding/csv %q", i, rec.fields, want[i])
		}
		if rec.line != wantLines[i] {
			t.Fatalf("record %d: scanner line %d, encoding/csv line %d", i, rec.line, wantLines[i])
		}
	}
}
