package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kizuna-alumni/kizuna/internal/token"
)

const classifySecret = "classify-secret-0123456789abcdef0123456789"

// kizuna inbound classify prints one line per file, or the JSON of
// SPEC.md with the delivery attributed through the verified Message-ID
// and the reply+ address; an unreadable file is named and makes exit 2,
// the others are still classified.
func TestInboundClassify(t *testing.T) {
	t.Parallel()
	s := token.New([]byte(classifySecret))
	dir := t.TempDir()
	reply := "From: Taro <taro@example.jp>\r\nTo: alumni@example.co.jp\r\nSubject: Re: news\r\nMessage-ID: <r1@example.jp>\r\n" +
		"In-Reply-To: <d42.1." + s.Digest(token.Claims{Purpose: token.MessageID, DeliveryID: 42}) + "@example.co.jp>\r\n\r\nYes!\r\n"
	unsub := "From: hanako@example.jp\r\nTo: reply+u." + s.SignAddress(token.Claims{Purpose: token.Unsubscribe, DeliveryID: 7}) +
		"@in.example.co.jp\r\nSubject: unsubscribe\r\nMessage-ID: <u1@example.jp>\r\n\r\n"
	files := map[string]string{"reply.eml": reply, "unsub.eml": unsub}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	arf := filepath.Join("..", "..", "internal", "inbound", "classify", "testdata", "fixtures", "feedback_report", "rfc5965_example.eml")
	args := []string{"inbound", "classify", "--json", filepath.Join(dir, "reply.eml"), filepath.Join(dir, "unsub.eml"), arf}

	env := map[string]string{"KIZUNA_SECRET": classifySecret, "KIZUNA_INBOUND_ADDRESS": "reply@in.example.co.jp"}
	code, out, errOut := runApp(t, env, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(got) != 3 {
		t.Fatalf("%d results: %s", len(got), out)
	}
	want := []map[string]any{
		{"class": "human_reply", "message_id": "r1@example.jp", "delivery": 42.0, "original_message_id": nil},
		{"class": "unsubscribe_request", "message_id": "u1@example.jp", "delivery": 7.0, "in_reply_to": ""},
		{"class": "feedback_report", "original_message_id": "8787KJKJ3K4J3K4J3K4J3.mail@example.net", "delivery": nil},
	}
	for i, w := range want {
		for k, v := range w {
			if got[i][k] != v {
				t.Errorf("result %d %s = %#v, want %#v", i, k, got[i][k], v)
			}
		}
		if r, ok := got[i]["recipients"].([]any); !ok || len(r) != 0 {
			t.Errorf("result %d recipients = %#v, want []", i, got[i]["recipients"])
		}
		keys := []string{"file", "class", "recipients", "message_id", "in_reply_to", "original_message_id", "delivery"}
		if len(got[i]) != len(keys) {
			t.Errorf("result %d has keys %v, want exactly %v", i, got[i], keys)
		}
	}

	// Without the secret nothing is attributed.
	code, out, _ = runApp(t, nil, args...)
	if code != 0 || strings.Contains(out, `"delivery": 42`) || !strings.Contains(out, `"delivery": null`) {
		t.Errorf("without KIZUNA_SECRET: exit %d, %s", code, out)
	}

	// Text: one line per file.
	code, out, _ = runApp(t, env, "inbound", "classify", filepath.Join(dir, "reply.eml"), filepath.Join(dir, "unsub.eml"))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !strings.Contains(lines[0], "human_reply") || !strings.Contains(lines[0], "delivery 42 (in_reply_to)") ||
		!strings.Contains(lines[1], "unsubscribe_request") {
		t.Errorf("text: exit %d, %q", code, out)
	}

	missing := filepath.Join(dir, "missing.eml")
	code, out, errOut = runApp(t, env, "inbound", "classify", filepath.Join(dir, "reply.eml"), missing)
	// The readable file is still classified; the exit status says one was not.
	if code != 2 || !strings.Contains(errOut, missing) || !strings.Contains(out, "human_reply") {
		t.Errorf("unreadable file: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
