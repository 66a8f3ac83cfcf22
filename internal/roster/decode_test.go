package roster

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// halfWidthRoster is a CP932 roster whose names are only half-width katakana
// that pair up into valid UTF-8 (ﾐｷ is D0 B7, which UTF-8 reads as "з").
func halfWidthRoster(t *testing.T) []byte {
	t.Helper()
	data := cp932(t, "email,family_name_kana,given_name_kana\r\n"+
		"miki@example.jp,ﾐｷ,ﾕｳ\r\n"+
		"nao@example.jp,ﾅｵ,ﾏｲ\r\n")
	if !utf8.Valid(data) {
		t.Fatal("test data: the CP932 bytes should also be valid UTF-8")
	}
	return data
}

func readWith(t *testing.T, data []byte, enc string) (*Reader, []Row, []Rejection) {
	t.Helper()
	rd, err := NewReader(bytes.NewReader(data), ReaderOptions{Now: func() time.Time { return fixedNow }, Encoding: enc})
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	return drain(t, rd)
}

func TestDetectCP932ThatIsValidUTF8(t *testing.T) {
	t.Parallel()
	rd, rows, rejs := readAll(t, halfWidthRoster(t))
	if len(rejs) != 0 || len(rows) != 2 {
		t.Fatalf("rows %+v rejections %+v", rows, rejs)
	}
	if rd.Encoding() != EncodingCP932 || rows[0].FamilyNameKana != "ﾐｷ" || rows[1].GivenNameKana != "ﾏｲ" {
		t.Errorf("read as %s: %q %q", rd.Encoding(), rows[0].FamilyNameKana, rows[1].GivenNameKana)
	}
	if d := rd.Detection(); d.Close || d.Forced {
		t.Errorf("detection %+v: katakana against Cyrillic is not close", d)
	}
}

func TestDetectUTF8Japanese(t *testing.T) {
	t.Parallel()
	// Half-width katakana in UTF-8 too: plausible only as CP932, but its
	// bytes are not valid there.
	rd, rows, _ := readAll(t, []byte("email,name,family_name_kana\nhana@example.jp,山田 花子,ﾔﾏﾀﾞ\n"))
	if rd.Encoding() != EncodingUTF8 || len(rows) != 1 || rows[0].FamilyName != "山田" || rows[0].FamilyNameKana != "ﾔﾏﾀﾞ" {
		t.Errorf("read as %s: %+v", rd.Encoding(), rows)
	}
	if d := rd.Detection(); d.Close {
		t.Errorf("detection %+v", d)
	}
}

// When both readings are plausible, the reader says so and keeps a sample
// of each for the user; UTF-8 wins a near tie.
func TestDetectCloseReadingsSayWhich(t *testing.T) {
	t.Parallel()
	rd, rows, _ := readAll(t, []byte("email,name,locale\njose@example.com,José García,en\n"))
	d := rd.Detection()
	if rd.Encoding() != EncodingUTF8 || len(rows) != 1 || rows[0].GivenName != "José" {
		t.Errorf("read as %s: %+v", rd.Encoding(), rows)
	}
	if !d.Close || !strings.Contains(d.UTF8Sample, "é García") || !strings.Contains(d.CP932Sample, "ﾃｩ Garc") || strings.Contains(d.UTF8Sample, "\n") {
		t.Errorf("detection %+v", d)
	}
}

func TestDetectASCIIEitherWay(t *testing.T) {
	t.Parallel()
	data := []byte("email,name\ntaro@example.jp,Taro Yamada\n")
	for _, enc := range []string{"", EncodingUTF8, EncodingCP932} {
		_, rows, rejs := readWith(t, data, enc)
		if len(rejs) != 0 || len(rows) != 1 || rows[0].FamilyName != "Taro" {
			t.Errorf("encoding %q: %+v %+v", enc, rows, rejs)
		}
	}
}

func TestForcedEncoding(t *testing.T) {
	t.Parallel()
	rd, rows, _ := readWith(t, halfWidthRoster(t), EncodingUTF8)
	if d := rd.Detection(); rd.Encoding() != EncodingUTF8 || !d.Forced || len(rows) != 2 || rows[0].FamilyNameKana != "з" {
		t.Errorf("forced utf-8: %s %+v %+v", rd.Encoding(), d, rows)
	}
	rd, rows, _ = readWith(t, cp932(t, "email,name\nmiki@example.jp,ﾐｷ 髙橋\n"), EncodingCP932)
	if rd.Encoding() != EncodingCP932 || len(rows) != 1 || rows[0].GivenName != "髙橋" {
		t.Errorf("forced cp932: %s %+v", rd.Encoding(), rows)
	}
	// A UTF-8 file with a BOM forced to utf-8 still loses its BOM.
	_, rows, _ = readWith(t, []byte("\xEF\xBB\xBFemail\na@example.jp\n"), EncodingUTF8)
	if len(rows) != 1 {
		t.Errorf("forced utf-8 with BOM: %+v", rows)
	}
	if _, err := NewReader(strings.NewReader("email\n"), ReaderOptions{Encoding: "latin1"}); err == nil || !strings.Contains(err.Error(), `unknown encoding "latin1"`) {
		t.Errorf("unknown encoding: %v", err)
	}
}
