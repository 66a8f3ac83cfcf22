package classify

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset"
)

// fixtureWant is the sidecar NAME.json of a fixture NAME.eml.
type fixtureWant struct {
	Class             Class  `json:"class"`
	OriginalMessageID string `json:"original_message_id"`
	Recipients        []struct {
		Address string `json:"address"`
		Status  string `json:"status"`
		Reason  string `json:"reason"`
		Hard    bool   `json:"hard"`
	} `json:"recipients"`
}

// readEntity parses raw as a message; unknown charsets still give an entity.
func readEntity(t testing.TB, raw []byte) *message.Entity {
	e, err := message.Read(bytes.NewReader(raw))
	if e == nil {
		if t != nil {
			t.Fatalf("read message: %v", err)
		}
		return nil
	}
	return e
}

// plainText is the text a caller hands parseBounce: the text/plain parts
// of the message, decoded.
func plainText(raw []byte) string {
	e, _ := message.Read(bytes.NewReader(raw))
	if e == nil {
		return ""
	}
	var b strings.Builder
	for _, p := range leaves(e) {
		if p.mediaType == "text/plain" {
			b.Write(p.body)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// parseNotice runs the two hooks the way Classify does: the report parser
// on a multipart/report, else the non-standard one with the text.
func parseNotice(t testing.TB, raw []byte) (Result, bool) {
	e := readEntity(t, raw)
	if e == nil {
		return Result{}, false
	}
	if isDeliveryReport(&e.Header) {
		if res, ok := parseReport(e); ok {
			return res, true
		}
		e = readEntity(t, raw)
	}
	return parseBounce(&e.Header, e, plainText(raw))
}

func fixtureFiles(t testing.TB) []string {
	var files []string
	for _, dir := range []string{"bounce", "delayed"} {
		m, err := filepath.Glob(filepath.Join("testdata", "fixtures", dir, "*.eml"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	return files
}

// TestBounceFixtures parses every real-shaped notice under
// testdata/fixtures/{bounce,delayed} and compares class, original
// Message-ID and each recipient's address, status, reason and hardness
// with its JSON sidecar.
func TestBounceFixtures(t *testing.T) {
	files := fixtureFiles(t)
	if len(files) < 30 {
		t.Fatalf("%d fixtures, want at least 30", len(files))
	}
	for _, f := range files {
		name := strings.TrimSuffix(f, ".eml")
		t.Run(filepath.Base(filepath.Dir(f))+"/"+filepath.Base(name), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			wantJSON, err := os.ReadFile(name + ".json")
			if err != nil {
				t.Fatal(err)
			}
			var want fixtureWant
			if err := json.Unmarshal(wantJSON, &want); err != nil {
				t.Fatalf("%s.json: %v", name, err)
			}
			got, ok := parseNotice(t, raw)
			if !ok {
				t.Fatal("not recognised as a bounce or delay notice")
			}
			if got.Class != want.Class {
				t.Errorf("class %q, want %q", got.Class, want.Class)
			}
			if !got.Automatic {
				t.Error("Automatic false")
			}
			if got.OriginalMessageID != want.OriginalMessageID {
				t.Errorf("original message id %q, want %q", got.OriginalMessageID, want.OriginalMessageID)
			}
			if len(got.Recipients) != len(want.Recipients) {
				t.Fatalf("%d recipients %+v, want %d", len(got.Recipients), got.Recipients, len(want.Recipients))
			}
			for i, w := range want.Recipients {
				g := got.Recipients[i]
				if g.Address != w.Address || g.Status != w.Status || g.Reason != w.Reason || g.Hard != w.Hard {
					t.Errorf("recipient %d = {%s %s %s hard=%v} (diagnostic %q), want {%s %s %s hard=%v}",
						i, g.Address, g.Status, g.Reason, g.Hard, g.Diagnostic, w.Address, w.Status, w.Reason, w.Hard)
				}
				if want.Class == Delayed && g.Action != "delayed" {
					t.Errorf("recipient %d action %q in a delay notice", i, g.Action)
				}
				checkRecipient(t, g)
			}
		})
	}
}

// checkRecipient asserts what holds for every recipient of every notice.
func checkRecipient(t testing.TB, r Recipient) {
	t.Helper()
	if r.Action != "failed" && r.Action != "delayed" {
		t.Errorf("recipient %q action %q", r.Address, r.Action)
	}
	if r.Hard && (r.Action != "failed" || strings.HasPrefix(r.Status, "4")) {
		t.Errorf("recipient %q hard with action %q status %q", r.Address, r.Action, r.Status)
	}
	if r.Hard && r.Reason != reasonUserUnknown && r.Reason != reasonHostUnknown {
		t.Errorf("recipient %q hard with reason %q", r.Address, r.Reason)
	}
	if len(r.Diagnostic) > maxDiagnostic || !utf8.ValidString(r.Diagnostic) {
		t.Errorf("recipient %q diagnostic of %d bytes (valid UTF-8 %v)", r.Address, len(r.Diagnostic), utf8.ValidString(r.Diagnostic))
	}
	switch r.Reason {
	case reasonUserUnknown, reasonHostUnknown, reasonMailboxFull, reasonFiltered, reasonBlocked, reasonRejected,
		reasonPolicy, reasonExpired, reasonSpam, reasonAuth, reasonNetwork, reasonOther:
	default:
		t.Errorf("recipient %q reason %q not in the list", r.Address, r.Reason)
	}
}

// FuzzParseBounce feeds arbitrary messages to both hooks: they never panic,
// and what they return keeps the Result's promises.
func FuzzParseBounce(f *testing.F) {
	for _, file := range fixtureFiles(f) {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte("Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822;\r\n\r\n--b--\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, hook := range []func() (Result, bool){
			func() (Result, bool) {
				e, _ := message.Read(bytes.NewReader(raw))
				if e == nil {
					return Result{}, false
				}
				return parseReport(e)
			},
			func() (Result, bool) {
				e, _ := message.Read(bytes.NewReader(raw))
				if e == nil {
					return Result{}, false
				}
				return parseBounce(&e.Header, e, plainText(raw))
			},
			func() (Result, bool) {
				h := message.Header{}
				h.Set("From", "MAILER-DAEMON@example.jp")
				h.Set("Subject", "Undelivered Mail Returned to Sender")
				return parseBounce(&h, nil, string(raw))
			},
		} {
			res, ok := hook()
			if !ok {
				continue
			}
			if res.Class != Bounce && res.Class != Delayed {
				t.Fatalf("class %q", res.Class)
			}
			if !res.Automatic {
				t.Fatal("Automatic false")
			}
			failed := false
			for _, r := range res.Recipients {
				checkRecipient(t, r)
				failed = failed || r.Action == "failed"
			}
			if len(res.Recipients) > 0 && failed != (res.Class == Bounce) {
				t.Fatalf("class %q with recipients %+v", res.Class, res.Recipients)
			}
		}
	})
}
