package smtptest_test

import (
	"net/smtp"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/internal/smtptest"
)

func send(addr, from, to, body string) error {
	return smtp.SendMail(addr, nil, from, []string{to}, []byte(body))
}

func TestRecordsMessages(t *testing.T) {
	s := smtptest.Start(t)
	body := "Subject: hello\r\nX-Test: a\r\n b\r\n\r\nbody\r\n"
	if err := send(s.Addr, "hr@example.jp", "taro@example.jp", body); err != nil {
		t.Fatal(err)
	}
	if !s.WaitFor(1, 5*time.Second) {
		t.Fatal("message not recorded")
	}
	m := s.Messages()[0]
	if m.From != "hr@example.jp" || len(m.To) != 1 || m.To[0] != "taro@example.jp" {
		t.Fatalf("envelope = %q %q", m.From, m.To)
	}
	if m.Header("subject") != "hello" || m.Header("X-Test") != "a b" {
		t.Fatalf("headers: subject=%q x-test=%q", m.Header("subject"), m.Header("X-Test"))
	}
}

func TestFaults(t *testing.T) {
	s := smtptest.Start(t)
	s.SetFault(func(stage smtptest.Stage, from string, to []string) error {
		if stage == smtptest.StageRcpt && strings.HasPrefix(to[0], "unknown") {
			return smtptest.Reply(550, "5.1.1", "no such user")
		}
		if stage == smtptest.StageData && strings.HasPrefix(to[0], "busy") {
			return smtptest.Reply(451, "4.3.0", "try again later")
		}
		if stage == smtptest.StageMail && from == "drop@example.jp" {
			return smtptest.ErrDrop
		}
		return nil
	})
	if err := send(s.Addr, "hr@example.jp", "unknown@example.jp", "x\r\n"); err == nil || !strings.Contains(err.Error(), "550") {
		t.Errorf("RCPT fault: err = %v", err)
	}
	if err := send(s.Addr, "hr@example.jp", "busy@example.jp", "x\r\n"); err == nil || !strings.Contains(err.Error(), "451") {
		t.Errorf("DATA fault: err = %v", err)
	}
	if err := send(s.Addr, "drop@example.jp", "a@example.jp", "x\r\n"); err == nil {
		t.Error("dropped connection reported success")
	}
	if err := send(s.Addr, "hr@example.jp", "ok@example.jp", "x\r\n"); err != nil {
		t.Errorf("healthy send: %v", err)
	}
	if got := s.Accepted(); got != 1 {
		t.Errorf("accepted = %d, want only the healthy message", got)
	}
	if s.Connections() < 4 {
		t.Errorf("connections = %d, want 4", s.Connections())
	}
}

func TestDiscardCountsOnly(t *testing.T) {
	s := smtptest.Start(t)
	s.Discard = true
	for i := 0; i < 3; i++ {
		if err := send(s.Addr, "hr@example.jp", "a@example.jp", "x\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	if s.Accepted() != 3 || len(s.Messages()) != 0 {
		t.Fatalf("accepted=%d kept=%d", s.Accepted(), len(s.Messages()))
	}
}

// Commands shows the paths as the client wrote them, quotes included
// (the session only sees them unquoted).
func TestRecordsCommandLines(t *testing.T) {
	s := smtptest.Start(t)
	c, err := smtp.Dial(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("hr@example.jp"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(`"taro..yamada"@docomo.ne.jp`); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("Subject: x\r\n\r\n" + strings.Repeat(strings.Repeat("y", 900)+"\r\n", 3)))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	want := []string{"MAIL FROM:<hr@example.jp> BODY=8BITMIME", `RCPT TO:<"taro..yamada"@docomo.ne.jp>`}
	got := s.Commands()
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("Commands() = %q, want %q", got, want)
	}
	if to := s.Messages()[0].To[0]; to != "taro..yamada@docomo.ne.jp" {
		t.Errorf("session recipient = %q", to)
	}
}
