package roster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"golang.org/x/text/encoding/japanese"
)

// ExportOptions choose the export's format.
type ExportOptions struct {
	// JSON writes a JSON array of Export objects instead of CSV.
	JSON bool
	// Encoding of the CSV: EncodingUTF8 (the default, written with a BOM so
	// that Excel reads it as UTF-8) or EncodingCP932.
	Encoding string
}

// ErrNotEncodable is wrapped when a CP932 export meets a character CP932
// cannot hold (an emoji, most non-Japanese scripts). Kizuna stops rather
// than write a replacement character into someone's name.
var ErrNotEncodable = fmt.Errorf("character not representable in CP932")

// Export writes every alumnus except forgotten ones, oldest first, as a
// stream: CSV with the import's columns plus status (CRLF line ends, cells
// protected against formula injection), or JSON. It returns how many people
// it wrote. The CSV re-imports to the same data.
func (s *Store) Export(ctx context.Context, w io.Writer, opts ExportOptions) (int, error) {
	enc := opts.Encoding
	if enc == "" {
		enc = EncodingUTF8
	}
	if enc != EncodingUTF8 && enc != EncodingCP932 {
		return 0, fmt.Errorf("export: unknown encoding %q (utf-8 or cp932)", opts.Encoding)
	}
	rows, err := s.db.QueryContext(ctx, qExportAlumni)
	if err != nil {
		return 0, fmt.Errorf("export: %w", err)
	}
	defer rows.Close()
	bw := bufio.NewWriterSize(w, 64<<10)
	var out rowWriter
	if opts.JSON {
		out = &jsonWriter{w: bw}
	} else {
		out = newCSVWriter(bw, enc)
	}
	if err := out.begin(); err != nil {
		return 0, fmt.Errorf("export: %w", err)
	}
	n := 0
	for rows.Next() {
		a, err := scanAlumnus(rows)
		if err != nil {
			return n, fmt.Errorf("export: %w", err)
		}
		if err := out.write(a.Export()); err != nil {
			return n, fmt.Errorf("export: %w", err)
		}
		n++
	}
	rowsErr := rows.Err()
	// The JSON array is closed even after a failure, so that stdout still
	// holds one document; the error says it is incomplete.
	if err := out.end(); err != nil && rowsErr == nil {
		rowsErr = err
	}
	if err := bw.Flush(); err != nil && rowsErr == nil {
		rowsErr = err
	}
	if rowsErr != nil {
		return n, fmt.Errorf("export (incomplete after %d people): %w", n, rowsErr)
	}
	return n, nil
}

type rowWriter interface {
	begin() error
	write(Export) error
	end() error
}

type jsonWriter struct {
	w     *bufio.Writer
	wrote bool
}

func (j *jsonWriter) begin() error { _, err := j.w.WriteString("["); return err }

func (j *jsonWriter) write(e Export) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if j.wrote {
		j.w.WriteString(",")
	}
	j.wrote = true
	j.w.WriteString("\n")
	_, err = j.w.Write(b)
	return err
}

func (j *jsonWriter) end() error { _, err := j.w.WriteString("\n]\n"); return err }

// csvWriter writes each record into a buffer first, so that a CP932 export
// can name the person and column of a character it cannot encode.
type csvWriter struct {
	w     io.Writer
	buf   bytes.Buffer
	csv   *csv.Writer
	cp932 bool
}

func newCSVWriter(w io.Writer, enc string) *csvWriter {
	c := &csvWriter{w: w, cp932: enc == EncodingCP932}
	c.csv = csv.NewWriter(&c.buf)
	c.csv.UseCRLF = true
	return c
}

func (c *csvWriter) begin() error {
	if !c.cp932 {
		if _, err := c.w.Write([]byte{0xEF, 0xBB, 0xBF}); err != nil {
			return err
		}
	}
	return c.flush(append(append([]string{}, Columns...), "status"), "")
}

func (c *csvWriter) write(e Export) error {
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	consent := "no"
	if e.Consent {
		consent = "yes"
	}
	cells := []string{
		e.Email, e.FamilyName, e.GivenName, e.FamilyNameKana, e.GivenNameKana,
		str(e.EmployeeID), e.Department, str(e.JoinedOn), str(e.LeftOn), e.Locale, e.Timezone,
		strings.Join(e.Tags, ";"), consent, str(e.ConsentedAt), e.ConsentSource, e.Status,
	}
	for i, v := range cells {
		cells[i] = escapeFormula(v)
	}
	return c.flush(cells, e.Email)
}

func (c *csvWriter) end() error { return nil }

func (c *csvWriter) flush(cells []string, who string) error {
	c.buf.Reset()
	if err := c.csv.Write(cells); err != nil {
		return err
	}
	c.csv.Flush()
	if err := c.csv.Error(); err != nil {
		return err
	}
	if !c.cp932 {
		_, err := c.w.Write(c.buf.Bytes())
		return err
	}
	out, err := japanese.ShiftJIS.NewEncoder().Bytes(c.buf.Bytes())
	if err != nil {
		return unencodable(cells, who)
	}
	_, err = c.w.Write(out)
	return err
}

// unencodable names the first cell of a record that CP932 cannot hold.
func unencodable(cells []string, who string) error {
	enc := japanese.ShiftJIS.NewEncoder()
	names := append(append([]string{}, Columns...), "status")
	for i, v := range cells {
		for _, r := range v {
			if _, err := enc.String(string(r)); err != nil {
				return fmt.Errorf("%w: %s of %s holds %q (%U); export as utf-8 instead", ErrNotEncodable, names[i], who, string(r), r)
			}
		}
	}
	return ErrNotEncodable
}

// EscapeFormula protects one CSV cell that Excel will open from formula
// injection, as the export does: a value starting with = + - or @ (after
// any apostrophes) gets a leading apostrophe, which Excel shows as text and
// does not display. Other CSV writers of alumni data (the attendee list)
// use it too.
func EscapeFormula(v string) string { return escapeFormula(v) }
