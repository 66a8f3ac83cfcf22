package mailer

import (
	"context"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFileRelayWritesEML(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "out", "nested") // created on first Send
	s := newSender(t, "file://"+dir)
	sendAll(t, s, 3)
	noID := Envelope{From: "b@example.co.jp", To: "x@example.jp", Data: []byte("Subject: no id\r\n\r\nbody\r\n")}
	for range 2 {
		if err := s.Send(context.Background(), noID); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.HasPrefix(s.LastReply(), "250 written to "+dir) {
		t.Errorf("LastReply() = %q", s.LastReply())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		if !strings.HasSuffix(e.Name(), ".eml") || strings.HasPrefix(e.Name(), ".tmp") {
			t.Errorf("unexpected file %q", e.Name())
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(f)
		f.Close()
		if err != nil || m.Header.Get("Subject") == "" {
			t.Errorf("%s does not parse as a message: %v", e.Name(), err)
		}
	}
	if len(entries) != 5 {
		t.Fatalf("files = %v, want 5", names)
	}
	if _, err := os.Stat(filepath.Join(dir, "m1.test@example.co.jp.eml")); err != nil {
		t.Errorf("message with Message-ID <m1.test@example.co.jp> not named after it: %v", names)
	}
}

func TestFileNameIsSafe(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"<../../etc/passwd>", "<a/b\\c@d>", "<..>", "<" + strings.Repeat("x", 300) + ">"} {
		name := fileName([]byte("Message-ID: " + id + "\r\n\r\n"))
		if strings.ContainsAny(name, "/\\") || name == "..eml" || strings.HasPrefix(name, "..") || len(name) > 210 {
			t.Errorf("Message-ID %q gives unsafe file name %q", id, name)
		}
	}
}
