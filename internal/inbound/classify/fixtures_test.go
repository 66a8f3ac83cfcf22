package classify

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// expectation is a fixture's NAME.json sidecar (testdata/fixtures/README.md):
// every key present is checked, absent keys are not.
type expectation struct {
	Class             Class       `json:"class"`
	From              *string     `json:"from"`
	Subject           *string     `json:"subject"`
	MessageID         *string     `json:"message_id"`
	InReplyTo         *string     `json:"in_reply_to"`
	References        []string    `json:"references"`
	OriginalMessageID *string     `json:"original_message_id"`
	OriginalTo        *[]string   `json:"original_to"`
	Addresses         []string    `json:"addresses"`
	Automatic         *bool       `json:"automatic"`
	Calendar          *Calendar   `json:"calendar"`
	Recipients        []Recipient `json:"recipients"`
	TextContains      []string    `json:"text_contains"`
	TextExcludes      []string    `json:"text_excludes"`
}

// TestFixtures classifies every message under testdata/fixtures/<class>/
// (the bounce and delayed folders included) and checks its class and
// sidecar. It reports the count per class and the accuracy, and fails on
// any miss: the fixture set is the classifier's contract.
func TestFixtures(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "fixtures", "*", "*.eml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	total, right := map[string]int{}, map[string]int{}
	for _, f := range files {
		want := Class(filepath.Base(filepath.Dir(f)))
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		total[string(want)]++
		got, err := Classify(raw)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if got.Class != want {
			t.Errorf("%s: class %s, want %s (subject %q)", f, got.Class, want, got.Subject)
			continue
		}
		if problems := checkSidecar(f, got); len(problems) > 0 {
			for _, p := range problems {
				t.Errorf("%s: %s", f, p)
			}
			continue
		}
		right[string(want)]++
	}
	classes := make([]string, 0, len(total))
	n, ok := 0, 0
	for c := range total {
		classes = append(classes, c)
		n += total[c]
		ok += right[c]
	}
	sort.Strings(classes)
	var b strings.Builder
	for _, c := range classes {
		b.WriteString("  " + c + ": " + strconv.Itoa(right[c]) + "/" + strconv.Itoa(total[c]) + "\n")
	}
	t.Logf("fixtures per class (right/total):\n%saccuracy: %d/%d = %.1f %%", b.String(), ok, n, 100*float64(ok)/float64(n))
	if ok != n {
		t.Errorf("accuracy %d/%d below 100 %%", ok, n)
	}
}

// checkSidecar compares a result with NAME.json next to the fixture.
func checkSidecar(eml string, got Result) []string {
	data, err := os.ReadFile(strings.TrimSuffix(eml, ".eml") + ".json")
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return []string{err.Error()}
	}
	var e expectation
	if err := json.Unmarshal(data, &e); err != nil {
		return []string{"sidecar: " + err.Error()}
	}
	var p []string
	str := func(name string, want *string, got string) {
		if want != nil && *want != got {
			p = append(p, name+": got "+jsonString(got)+", want "+jsonString(*want))
		}
	}
	if e.Class != "" && e.Class != got.Class {
		p = append(p, "sidecar class "+string(e.Class)+" differs from its folder")
	}
	str("from", e.From, got.From)
	str("subject", e.Subject, got.Subject)
	str("message_id", e.MessageID, got.MessageID)
	str("in_reply_to", e.InReplyTo, got.InReplyTo)
	str("original_message_id", e.OriginalMessageID, got.OriginalMessageID)
	if e.References != nil && !reflect.DeepEqual(e.References, got.References) {
		p = append(p, "references: got "+jsonString(got.References))
	}
	if e.OriginalTo != nil && !(len(*e.OriginalTo) == 0 && len(got.OriginalTo) == 0) && !reflect.DeepEqual(*e.OriginalTo, got.OriginalTo) {
		p = append(p, "original_to: got "+jsonString(got.OriginalTo))
	}
	if e.Addresses != nil && !reflect.DeepEqual(e.Addresses, got.Addresses) {
		p = append(p, "addresses: got "+jsonString(got.Addresses))
	}
	if e.Automatic != nil && *e.Automatic != got.Automatic {
		p = append(p, "automatic: got "+jsonString(got.Automatic))
	}
	if e.Calendar != nil && (got.Calendar == nil || *e.Calendar != *got.Calendar) {
		p = append(p, "calendar: got "+jsonString(got.Calendar))
	}
	if e.Recipients != nil {
		// Address, status, reason and hard are always compared; action
		// and reply code when the sidecar gives them; never the
		// diagnostic text.
		var gotR, wantR []Recipient
		for i, w := range e.Recipients {
			g := Recipient{}
			if i < len(got.Recipients) {
				g = got.Recipients[i]
			}
			g.Diagnostic = ""
			if w.Action == "" {
				g.Action = ""
			}
			if w.ReplyCode == "" {
				g.ReplyCode = ""
			}
			w.Diagnostic = ""
			gotR, wantR = append(gotR, g), append(wantR, w)
		}
		if len(got.Recipients) != len(e.Recipients) || !reflect.DeepEqual(wantR, gotR) {
			p = append(p, "recipients: got "+jsonString(got.Recipients))
		}
	}
	for _, s := range e.TextContains {
		if !strings.Contains(got.Text, s) {
			p = append(p, "text lacks "+jsonString(s)+": "+jsonString(got.Text))
		}
	}
	for _, s := range e.TextExcludes {
		if strings.Contains(got.Text, s) {
			p = append(p, "text has "+jsonString(s)+": "+jsonString(got.Text))
		}
	}
	return p
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
