package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/emersion/go-message/charset"
	gmail "github.com/emersion/go-message/mail"

	"github.com/kizuna-alumni/kizuna/internal/smtptest"
	"github.com/kizuna-alumni/kizuna/internal/store"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
)

const previewSecret = "preview-secret-0123456789abcdef0123456789"

const previewDefaults = `company:
  name: Example株式会社
  address: 東京都渋谷区神南1-2-3
  contact: "alumni@example.co.jp / 03-1234-5678"
  url: https://example.co.jp
  privacy_url: https://example.co.jp/privacy
from: "Example株式会社 人事部 <alumni@example.co.jp>"
reply_to: alumni@example.co.jp
`

const previewCampaign = `id: 2026-winter-news
kind: newsletter
subject:
  ja: "{{.FamilyName}}様 アルムナイ通信"
  en: "Alumni news for {{.GivenName}}"
schedule:
  at: 2026-12-01T10:10:00+09:00
template:
  theme: default
  body:
    ja:
      intros: ["{{.Department}}の皆様、お元気ですか。"]
      actions:
        - instructions: "求人はこちら"
          button: { text: "求人を見る", link: "https://example.co.jp/careers" }
    en:
      intros: ["Hello from {{.Department}}."]
      actions:
        - instructions: "Open positions"
          button: { text: "View jobs", link: "https://example.co.jp/careers" }
`

// previewSetup writes a campaign folder and adds two alumni.
func previewSetup(t *testing.T) (env map[string]string, campaignFile string) {
	t.Helper()
	env, db := alumniEnv(t)
	env["KIZUNA_SECRET"] = previewSecret
	env["KIZUNA_BASE_URL"] = "https://alumni.example.co.jp"
	dir := t.TempDir()
	for name, text := range map[string]string{"kizuna.yaml": previewDefaults, "news.yaml": previewCampaign} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	testdb.Alumni(t, db,
		testdb.Alumnus{Email: "hanako@example.jp", FamilyName: "<script>佐藤", GivenName: "花子", Department: "営業部", Locale: "ja",
			Timezone: "Asia/Tokyo", Consent: true, NoConsentDate: true},
		testdb.Alumnus{Email: "john@example.com", FamilyName: "Doe", GivenName: "John", Department: "Sales", Locale: "en",
			Timezone: "America/New_York", Consent: true, NoConsentDate: true})
	return env, filepath.Join(dir, "news.yaml")
}

func TestCampaignPreview(t *testing.T) {
	t.Parallel()
	env, file := previewSetup(t)

	code, out, errOut := runApp(t, env, "campaign", "preview", file, "--to", "Hanako@Example.jp")
	if code != 0 {
		t.Fatalf("preview: exit %d\n%s", code, errOut)
	}
	for _, want := range []string{`lang="ja"`, "&lt;script&gt;佐藤 花子 様", "営業部の皆様", "https://alumni.example.co.jp/c/", "https://alumni.example.co.jp/u/", "配信停止"} {
		if !strings.Contains(out, want) {
			t.Errorf("html preview lacks %q", want)
		}
	}
	if strings.Contains(out, "<script>") {
		t.Error("html preview carries a raw <script>")
	}

	code, out, _ = runApp(t, env, "campaign", "preview", file, "--to", "john@example.com", "--format", "text")
	if code != 0 || !strings.Contains(out, "Dear John Doe,") || !strings.Contains(out, "Hello from Sales.") || strings.Contains(out, "<p>") {
		t.Errorf("text preview: exit %d\n%s", code, out)
	}

	code, out, _ = runApp(t, env, "campaign", "preview", file, "--to", "john@example.com", "--format", "eml")
	if code != 0 {
		t.Fatalf("eml preview: exit %d", code)
	}
	mr, err := gmail.CreateReader(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if subj, _ := mr.Header.Subject(); subj != "Alumni news for John" {
		t.Errorf("eml Subject %q", subj)
	}
	if mr.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
		t.Error("eml lacks List-Unsubscribe-Post")
	}

	for name, c := range map[string]struct {
		args    []string
		env     map[string]string
		code    int
		errWant string
	}{
		"unknown alumnus": {[]string{file, "--to", "nobody@example.jp"}, nil, 2, "unknown alumnus"},
		"no --to":         {[]string{file}, nil, 2, "--to"},
		"bad format":      {[]string{file, "--to", "john@example.com", "--format", "pdf"}, nil, 2, "--format"},
		"no secret":       {[]string{file, "--to", "john@example.com"}, map[string]string{"KIZUNA_SECRET": ""}, 2, "KIZUNA_SECRET"},
		"missing file":    {[]string{filepath.Join(t.TempDir(), "none.yaml"), "--to", "john@example.com"}, nil, 2, "none.yaml"},
	} {
		e := map[string]string{}
		for k, v := range env {
			e[k] = v
		}
		for k, v := range c.env {
			e[k] = v
		}
		code, _, errOut := runApp(t, e, append([]string{"campaign", "preview"}, c.args...)...)
		if code != c.code || !strings.Contains(errOut, c.errWant) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d mentioning %q", name, code, errOut, c.code, c.errWant)
		}
		if strings.Contains(errOut, previewSecret) {
			t.Errorf("%s: stderr leaks the secret", name)
		}
	}
}

func TestCampaignPreviewInvalidCampaign(t *testing.T) {
	t.Parallel()
	env, file := previewSetup(t)
	bad := strings.Replace(previewCampaign, "{{.Department}}の", "{{.Salary}}の", 1)
	if err := os.WriteFile(file, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runApp(t, env, "campaign", "preview", file, "--to", "john@example.com")
	if code != 2 || out != "" || !strings.Contains(errOut, file+":") {
		t.Fatalf("invalid campaign: exit %d\nstdout %q\nstderr %s", code, out, errOut)
	}
}

func TestCampaignSendTest(t *testing.T) {
	t.Parallel()
	env, file := previewSetup(t)
	srv := smtptest.Start(t)
	env["KIZUNA_SMTP_URL"] = srv.URL()

	code, out, errOut := runApp(t, env, "campaign", "send-test", file, "--to", "hr-check@example.co.jp")
	if code != 0 || !strings.Contains(out, "hr-check@example.co.jp") {
		t.Fatalf("send-test: exit %d\n%s%s", code, out, errOut)
	}
	code, _, errOut = runApp(t, env, "campaign", "send-test", file, "--to", "hr-check@example.co.jp", "--as", "john@example.com")
	if code != 0 {
		t.Fatalf("send-test --as: exit %d\n%s", code, errOut)
	}
	if !srv.WaitFor(2, 10*time.Second) {
		t.Fatalf("relay got %d messages", len(srv.Messages()))
	}
	for i, m := range srv.Messages() {
		if len(m.To) != 1 || m.To[0] != "hr-check@example.co.jp" {
			t.Errorf("message %d RCPT TO %v", i, m.To)
		}
		mr, err := gmail.CreateReader(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatal(err)
		}
		subj, _ := mr.Header.Subject()
		want := map[int]string{0: "[TEST] 山田様 アルムナイ通信", 1: "[TEST] Alumni news for John"}[i]
		if subj != want || mr.Header.Get("X-Kizuna-Test") != "1" {
			t.Errorf("message %d: Subject %q, X-Kizuna-Test %q", i, subj, mr.Header.Get("X-Kizuna-Test"))
		}
		var body []byte
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(p.Body)
			body = append(body, b...)
		}
		if bytes.Contains(body, []byte("/c/")) || bytes.Contains(body, []byte("/o/")) || !bytes.Contains(body, []byte("https://example.co.jp/careers")) {
			t.Errorf("message %d: links are tracked in a test send", i)
		}
	}

	code, _, errOut = runApp(t, env, "campaign", "send-test", file, "--to", "hr-check@example.co.jp", "--as", "nobody@example.jp")
	if code != 2 || !strings.Contains(errOut, "unknown alumnus") {
		t.Errorf("unknown --as: exit %d, %s", code, errOut)
	}
	srv.SetFault(func(stage smtptest.Stage, from string, to []string) error {
		return smtptest.Reply(451, "4.3.0", "try later")
	})
	code, _, errOut = runApp(t, env, "campaign", "send-test", file, "--to", "hr-check@example.co.jp")
	if code != 1 || !strings.Contains(errOut, "451") {
		t.Errorf("relay failure: exit %d, %s", code, errOut)
	}
}

// preview --to someone the campaign would not reach still renders (exit 0)
// and says on stderr that they are outside the audience, and why.
func TestCampaignPreviewOutsideTheAudience(t *testing.T) {
	t.Parallel()
	env, file := previewSetup(t)
	db, err := store.Open(context.Background(), env["KIZUNA_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	testdb.Alumni(t, db,
		testdb.Alumnus{Email: "in@example.jp", FamilyName: "田中", GivenName: "一郎", Locale: "ja", Consent: true, Status: "active"},
		testdb.Alumnus{Email: "gone@example.jp", FamilyName: "鈴木", GivenName: "次郎", Locale: "ja", Consent: true, Status: "unsubscribed"},
		testdb.Alumnus{Email: "nocon@example.jp", FamilyName: "高橋", GivenName: "三郎", Locale: "ja", Status: "active"},
		testdb.Alumnus{Email: "dnc@example.jp", FamilyName: "伊藤", GivenName: "四郎", Locale: "ja", Consent: true, Status: "active", Tags: []string{"do-not-contact"}})
	// The campaign leaves out do-not-contact, as the examples do.
	text, _ := os.ReadFile(file)
	withFilter := strings.Replace(string(text), "schedule:", "audience:\n  tags_none: [do-not-contact]\nschedule:", 1)
	if err := os.WriteFile(file, []byte(withFilter), 0o644); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runApp(t, env, "campaign", "preview", file, "--to", "in@example.jp", "--format", "text")
	if code != 0 || out == "" || errOut != "" {
		t.Errorf("in the audience: exit %d, stderr %q; want exit 0 and nothing on stderr", code, errOut)
	}
	for addr, why := range map[string]string{
		"gone@example.jp":  "unsubscribed",
		"nocon@example.jp": "consent",
		"dnc@example.jp":   "tags_none",
	} {
		code, out, errOut := runApp(t, env, "campaign", "preview", file, "--to", addr, "--format", "text")
		if code != 0 || !strings.Contains(out, "様") {
			t.Errorf("%s: exit %d, stdout %q; want the message rendered all the same", addr, code, out)
		}
		if !strings.Contains(errOut, addr+" is outside the audience of 2026-winter-news") || !strings.Contains(errOut, why) {
			t.Errorf("%s: stderr %q; want a warning that they are outside the audience (%s)", addr, errOut, why)
		}
	}
}
