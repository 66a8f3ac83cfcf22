package classify

import (
	"strings"
	"testing"
)

// Hostile shapes finish and classify: long runs of encoded words (valid
// and broken), reply prefixes, addresses, deep nesting, many parts, large
// HTML and Shift_JIS bodies, unterminated identifiers, and a calendar with
// thousands of nested components (which golang-ical reads in more than
// linear time: before its bound, this case ran for minutes).
func TestHostileShapes(t *testing.T) {
	cases := map[string]string{
		"words":    "Subject: " + strings.Repeat("=?utf-8?B?44GC?= ", 100000) + "\n\nx",
		"badwords": "Subject: " + strings.Repeat("=?x?B?!!!!", 100000) + "\n\nx",
		"prefix":   "Subject: " + strings.Repeat("re:re", 200000) + "\n\nx",
		"addr":     "To: " + strings.Repeat("<a@b>,\"", 200000) + "\n\nx",
		"nest":     strings.Repeat("Content-Type: multipart/mixed; boundary=a\n\n--a\n", 5000),
		"parts":    "Content-Type: multipart/mixed; boundary=a\n\n" + strings.Repeat("--a\n\nx\n", 100000),
		"html":     "Content-Type: text/html\n\n" + strings.Repeat("<p>あ", 500000),
		"sjis":     "Content-Type: text/plain\n\n" + strings.Repeat("\x82\xa0", 1000000),
		"ids":      "References: " + strings.Repeat("<", 500000) + "\n\nx",
		"calendar": "Content-Type: text/calendar; method=REPLY\n\nBEGIN:VCALENDAR\nMETHOD:REPLY\n" + strings.Repeat("BEGIN:VEVENT\n", 20000),
		"rfc822":   strings.Repeat("Content-Type: message/rfc822\n\n", 10000),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			r, err := Classify([]byte(in))
			if err != nil {
				t.Fatal(err)
			}
			if r.Class == "" {
				t.Fatal("no class")
			}
		})
	}
}
