package roster

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/japanese"
)

// readAll reads every record of a roster file.
func readAll(t *testing.T, data []byte) (*Reader, []Row, []Rejection) {
	t.Helper()
	rd, err := NewReader(bytes.NewReader(data), ReaderOptions{Now: func() time.Time { return fixedNow }})
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	return drain(t, rd)
}

// drain reads every record of rd.
func drain(t *testing.T, rd *Reader) (*Reader, []Row, []Rejection) {
	t.Helper()
	var rows []Row
	var rejs []Rejection
	for {
		row, rej, err := rd.Next()
		if err == io.EOF {
			return rd, rows, rejs
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if rej != nil {
			rejs = append(rejs, *rej)
		} else {
			rows = append(rows, row)
		}
	}
}

func cp932(t *testing.T, s string) []byte {
	t.Helper()
	b, err := japanese.ShiftJIS.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatalf("encode CP932: %v", err)
	}
	return b
}

func TestReaderEncodings(t *testing.T) {
	t.Parallel()
	const text = "メールアドレス,姓,名,部署\r\nTakahashi@Example.jp,髙橋,一郎,㈱開発部①\r\nyamasaki@example.jp,山﨑,花子,営業部\r\n"
	cases := []struct {
		name string
		data []byte
		enc  string
	}{
		{"utf-8", []byte(text), EncodingUTF8},
		{"utf-8 with BOM", append([]byte{0xEF, 0xBB, 0xBF}, text...), EncodingUTF8BOM},
		{"cp932", cp932(t, text), EncodingCP932},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rd, rows, rejs := readAll(t, c.data)
			if len(rejs) != 0 || len(rows) != 2 {
				t.Fatalf("rows %d rejections %v", len(rows), rejs)
			}
			if rd.Encoding() != c.enc {
				t.Errorf("encoding %q, want %q", rd.Encoding(), c.enc)
			}
			got := rows[0]
			if got.Email != "takahashi@example.jp" || got.RawEmail != "Takahashi@Example.jp" || got.FamilyName != "髙橋" || got.GivenName != "一郎" || got.Department != "㈱開発部①" {
				t.Errorf("row 1 = %+v", got)
			}
			if rows[1].FamilyName != "山﨑" || rows[1].Line != 3 {
				t.Errorf("row 2 = %+v", rows[1])
			}
		})
	}
}

// An English header and ASCII rows may come before the first CP932
// character: the encoding is decided there, not at the start.
func TestReaderCP932AfterLongASCIIPrefix(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("email,family_name\n")
	for i := range 5000 {
		b.WriteString("user" + strings.Repeat("x", i%7) + "@example.com,Smith\n")
	}
	data := append([]byte(b.String()), cp932(t, "last@example.com,髙﨑\n")...)
	rd, rows, rejs := readAll(t, data)
	if len(rejs) != 0 || len(rows) != 5001 {
		t.Fatalf("rows %d, rejections %v", len(rows), rejs)
	}
	if rd.Encoding() != EncodingCP932 {
		t.Errorf("encoding %q, want cp932", rd.Encoding())
	}
	if last := rows[len(rows)-1]; last.FamilyName != "髙﨑" {
		t.Errorf("last row family name %q", last.FamilyName)
	}
}

func TestReaderJapaneseHeadersAndColumns(t *testing.T) {
	t.Parallel()
	data := "メールアドレス,氏名,セイ,メイ,社員番号,部署,入社日,退職日,言語,タイムゾーン,タグ,同意,同意日,同意取得方法,備考\n" +
		"a@example.jp,山田　太郎,ヤマダ,タロウ,E001,開発部,２００１／４／１,2020/03/31,ja,Asia/Tokyo,engineering; boomerang ;engineering,はい,2025/4/1,退職時アンケート,メモ\n" +
		"b@example.com,John Smith,,,,,,,en,Europe/London,,yes,2025-04-01T10:00:00Z,,\n" +
		"c@example.jp,Madonna,,,,,,,,,,いいえ,,,\n"
	rd, rows, rejs := readAll(t, []byte(data))
	if len(rejs) != 0 {
		t.Fatalf("rejections: %v", rejs)
	}
	if w := rd.Warnings(); len(w) != 1 || !strings.Contains(w[0].Message, "備考") || w[0].Line != 1 {
		t.Errorf("warnings %v, want one about 備考", w)
	}
	a := rows[0]
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	if a.FamilyName != "山田" || a.GivenName != "太郎" || a.FamilyNameKana != "ヤマダ" || a.EmployeeID != "E001" ||
		a.JoinedOn.Format(time.DateOnly) != "2001-04-01" || a.LeftOn.Format(time.DateOnly) != "2020-03-31" ||
		a.Locale != "ja" || strings.Join(a.Tags, "|") != "engineering|boomerang" || !*a.Consent ||
		!a.ConsentedAt.Equal(time.Date(2025, 4, 1, 0, 0, 0, 0, tokyo)) || a.ConsentSource != "退職時アンケート" {
		t.Errorf("row a = %+v", a)
	}
	b := rows[1]
	if b.FamilyName != "Smith" || b.GivenName != "John" || b.Timezone != "Europe/London" || !b.ConsentedAt.Equal(time.Date(2025, 4, 1, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("row b = %+v", b)
	}
	c := rows[2]
	if c.FamilyName != "Madonna" || c.GivenName != "" || *c.Consent || c.Tags != nil {
		t.Errorf("row c = %+v", c)
	}
}

func TestReaderRejections(t *testing.T) {
	t.Parallel()
	header := "email,name,joined_on,left_on,locale,timezone,consent,consented_at,department\n"
	cases := []struct {
		name, row, reason string
	}{
		{"missing email", ",x,,,,,,,", "missing email"},
		{"bad address", "not-an-address,x,,,,,,,", "bad address"},
		{"display name form", `"Taro <taro@example.jp>",x,,,,,,,`, "angle brackets"},
		{"header injection in email", "\"a@b.com\r\nBcc: x@y.com\",x,,,,,,,", "control character"},
		{"header injection in name", "a@example.com,\"Taro\r\nBcc: x@y.com\",,,,,,,", "control character"},
		{"tab", "a@example.com,Ta\tro,,,,,,,", "control character"},
		{"bidi override", "a@example.com,\u202Egpj.exe,,,,,,,", "control character"},
		{"full-width address", "ｔａｒｏ@example.jp,x,,,,,,,", "non-ASCII"},
		{"undotted domain", "taro@localhost,x,,,,,,,", "domain has no dot"},
		{"bad date", "a@example.com,x,2020-13-45,,,,,,", `bad date "2020-13-45"`},
		{"left before joined", "a@example.com,x,2020/4/1,2019/3/31,,,,,", "before joined_on"},
		{"unknown locale", "a@example.com,x,,,fr,,,,", `unknown locale "fr"`},
		{"bad time zone", "a@example.com,x,,,,Asia/Tokio,,,", `unknown time zone "Asia/Tokio"`},
		{"local time zone", "a@example.com,x,,,,Local,,,", "unknown time zone"},
		{"bad consent", "a@example.com,x,,,,,maybe,,", "consent must be yes or no"},
		{"future consent", "a@example.com,x,,,,,yes,2099-01-01,", "in the future"},
		{"long field", "a@example.com,x,,,,,,," + strings.Repeat("あ", 1001), "longer than 1000 characters"},
		{"bare quote", `a@example.com,Ta"ro,,,,,,,`, "quote"},
		{"text after quote", `a@example.com,"Taro"x,,,,,,,`, "after the closing quote"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, rows, rejs := readAll(t, []byte(header+c.row+"\nok@example.com,ok,,,,,,,\n"))
			if len(rejs) != 1 || !strings.Contains(rejs[0].Reason, c.reason) {
				t.Fatalf("rejections %+v, want one containing %q", rejs, c.reason)
			}
			if rejs[0].Line != 2 {
				t.Errorf("line %d, want 2", rejs[0].Line)
			}
			if len(rows) != 1 || rows[0].Email != "ok@example.com" || rows[0].Line != strings.Count(header+c.row, "\n")+2 {
				t.Errorf("the good row after it: %+v", rows)
			}
		})
	}
}

// Exactly 1,000 characters is allowed; <script> is just text (stored
// verbatim, escaped when rendered).
func TestReaderAcceptsEdgeValues(t *testing.T) {
	t.Parallel()
	data := "email,family_name,department\na@example.com,<script>alert(1)</script>," + strings.Repeat("髙", 1000) + "\n"
	_, rows, rejs := readAll(t, []byte(data))
	if len(rejs) != 0 || rows[0].FamilyName != "<script>alert(1)</script>" || len([]rune(rows[0].Department)) != 1000 {
		t.Fatalf("rows %+v rejections %+v", rows, rejs)
	}
}

func TestReaderPhysicalLines(t *testing.T) {
	t.Parallel()
	data := "email,department,family_name\r\n" + // line 1
		"a@example.com,\"開発部\r\n第二課\",A\r\n" + // lines 2-3 (rejected: LF in a field)
		"\r\n" + // line 4, blank
		"b@example.com,\"quoted, with comma\",\"B \"\"the\"\" B\"\r\n" + // line 5
		"c@example.com,\"x\n\ny\",C\n" + // lines 6-8
		"bad,x,D\n" // line 9
	_, rows, rejs := readAll(t, []byte(data))
	if len(rows) != 1 || rows[0].Line != 5 || rows[0].Department != "quoted, with comma" || rows[0].FamilyName != `B "the" B` {
		t.Errorf("rows %+v", rows)
	}
	var lines []int
	for _, r := range rejs {
		lines = append(lines, r.Line)
	}
	if len(lines) != 3 || lines[0] != 2 || lines[1] != 6 || lines[2] != 9 {
		t.Errorf("rejected lines %v, want [2 6 9]", lines)
	}
}

// Excel leaves rows of empty cells below the data; they are not rows.
func TestReaderSkipsEmptyRows(t *testing.T) {
	t.Parallel()
	_, rows, rejs := readAll(t, []byte("email,name,department\r\n,,\r\na@example.com,A,\r\n , ,\u3000\r\n,,\r\n"))
	if len(rows) != 1 || len(rejs) != 0 || rows[0].Line != 3 {
		t.Fatalf("rows %+v rejections %+v", rows, rejs)
	}
}

func TestReaderUnclosedQuote(t *testing.T) {
	t.Parallel()
	_, rows, rejs := readAll(t, []byte("email,family_name\na@example.com,A\nb@example.com,\"never closed\nc@example.com,C\n"))
	if len(rows) != 1 || len(rejs) != 1 || rejs[0].Line != 3 || !strings.Contains(rejs[0].Reason, "never closed") {
		t.Fatalf("rows %+v rejections %+v", rows, rejs)
	}
}

// A 10 MB field costs the reader a few KB, and the rows after it are read.
func TestReaderHugeField(t *testing.T) {
	t.Parallel()
	huge := strings.Repeat("x", 10<<20)
	data := "email,family_name,department\na@example.com,A," + huge + "\n" +
		"b@example.com,\"" + huge + "\",x\n" +
		strings.Repeat(",", 1<<20) + "\n" +
		"c@example.com,C,\n"
	_, rows, rejs := readAll(t, []byte(data))
	if len(rows) != 1 || rows[0].Email != "c@example.com" || rows[0].Line != 5 {
		t.Errorf("rows %+v", rows)
	}
	if len(rejs) != 3 || !strings.Contains(rejs[0].Reason, "department is longer than 1000") ||
		!strings.Contains(rejs[1].Reason, "family_name is longer") || !strings.Contains(rejs[2].Reason, "more than 256 fields") {
		t.Errorf("rejections %+v", rejs)
	}
}

func TestReaderNotRoster(t *testing.T) {
	t.Parallel()
	cases := map[string][]byte{
		"binary":           {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, 'I', 'H', 'D', 'R'},
		"utf-16":           {0xFF, 0xFE, 'e', 0, 'm', 0},
		"empty":            {},
		"no email column":  []byte("name,department\nTaro,開発部\n"),
		"email twice":      []byte("email,メールアドレス\na@example.com,b@example.com\n"),
		"broken header":    []byte("\"email,name\n"),
		"prose, not a CSV": []byte("Dear HR,\nplease find attached the roster.\n"),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := NewReader(bytes.NewReader(data), ReaderOptions{})
			if !errors.Is(err, ErrNotRoster) {
				t.Fatalf("err = %v, want ErrNotRoster", err)
			}
		})
	}
}

// Formula protection added by export is removed by import.
func TestFormulaEscapeRoundTrip(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"=SUM(A1)", "+81", "-x", "@home", "plain", "'quoted", "", "'=x", "''+81", "'", "''"} {
		if got := unescapeFormula(escapeFormula(v)); got != v {
			t.Errorf("round trip of %q gave %q", v, got)
		}
	}
	if escapeFormula("=1+1") != "'=1+1" {
		t.Errorf("formula not escaped")
	}
}
