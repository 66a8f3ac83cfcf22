package classify

import (
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

// FuzzClassify feeds Classify arbitrary bytes, seeded with every fixture:
// it must return without panicking (its recover guard reports an error,
// which fails here), and what it returns must be well-formed.
func FuzzClassify(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "fixtures", "*", "*.eml"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := Classify(raw)
		if err != nil && err != ErrEmpty {
			t.Fatalf("Classify: %v", err)
		}
		switch r.Class {
		case Bounce, Delayed, AutoReply, HumanReply, CalendarReply, UnsubscribeRequest, FeedbackReport:
		default:
			t.Fatalf("class %q", r.Class)
		}
		if r.Recipients == nil {
			t.Fatal("Recipients is nil, want []")
		}
		if len(r.Text) > maxText {
			t.Fatalf("text of %d bytes", len(r.Text))
		}
		for _, s := range []string{r.Subject, r.From, r.MessageID, r.InReplyTo} {
			if !utf8.ValidString(s) {
				t.Fatalf("invalid UTF-8 %q", s)
			}
		}
		if r.Class == CalendarReply && r.Calendar == nil {
			t.Fatal("calendar reply without Calendar")
		}
	})
}
