package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/emersion/go-message/charset" // ISO-2022-JP and friends, should a part use them
	"github.com/emersion/go-message/mail"
	"golang.org/x/text/encoding/japanese"

	"github.com/kizuna-alumni/kizuna/internal/smtptest"
	"github.com/kizuna-alumni/kizuna/internal/testbin"
)

// alumnus is one roster row of the journey and what it should receive.
type alumnus struct {
	email, family, given, dept, locale, tags, consent string
	greeting, subject                                 string // expected in the message; "" when none is expected
}

// journeyRoster: Japanese and English alumni, CP932-only characters (髙,
// 﨑), a mixed-case address, one without consent, one excluded by the
// campaign's audience, and one whose name is markup.
var journeyRoster = []alumnus{
	{"misaki.ishikawa@example.jp", "石川", "美咲", "開発部", "ja", "engineering", "はい", "石川 美咲 様", "石川様 サンプル技研アルムナイネットワーク開設のご案内"},
	{"ichiro.takahashi@example.jp", "髙橋", "一郎", "営業部", "ja", "sales", "はい", "髙橋 一郎 様", "髙橋様 サンプル技研アルムナイネットワーク開設のご案内"},
	{"hanako.yamazaki@example.jp", "山﨑", "花子", "総務部", "ja", "", "yes", "山﨑 花子 様", "山﨑様 サンプル技研アルムナイネットワーク開設のご案内"},
	{"john.smith@example.com", "Smith", "John", "Engineering", "en", "engineering", "yes", "Dear John Smith", "John, welcome to the Sample Giken alumni network"},
	{"emma.brown@example.com", "Brown", "Emma", "Sales", "en", "", "yes", "Dear Emma Brown", "Emma, welcome to the Sample Giken alumni network"},
	{"ken.sato@example.jp", "佐藤", "健", "開発部", "ja", "boomerang", "はい", "佐藤 健 様", "佐藤様 サンプル技研アルムナイネットワーク開設のご案内"},
	{"yuko.suzuki@example.jp", "鈴木", "優子", "開発部", "ja", "", "いいえ", "", ""},
	{"makoto.tanaka@example.jp", "田中", "誠", "営業部", "ja", "do-not-contact", "はい", "", ""},
	{"naoto.ito@example.jp", "伊藤", "直人", "人事部", "ja", "", "はい", "伊藤 直人 様", "伊藤様 サンプル技研アルムナイネットワーク開設のご案内"},
	{"aya.watanabe@example.jp", "渡辺", "彩", "開発部", "ja", "engineering;boomerang", "はい", "渡辺 彩 様", "渡辺様 サンプル技研アルムナイネットワーク開設のご案内"},
	{"daisuke.nakamura@example.jp", "中村", "大輔", "経理部", "ja", "", "はい", "中村 大輔 様", "中村様 サンプル技研アルムナイネットワーク開設のご案内"},
	{"Maria.Garcia@Example.com", "Garcia", "Maria", "Marketing", "en", "", "yes", "Dear Maria Garcia", "Maria, welcome to the Sample Giken alumni network"},
	{"eve@example.com", "<script>alert(1)</script>", "Eve", "Research", "en", "", "yes", "Dear Eve", "Eve, welcome to the Sample Giken alumni network"},
	{"megumi.kobayashi@example.jp", "小林", "恵", "開発部", "ja", "", "はい", "小林 恵 様", "小林様 サンプル技研アルムナイネットワーク開設のご案内"},
}

// hostileRow tries to smuggle a header into the envelope through a quoted
// CR/LF in the address; it spans two physical lines.
const hostileRow = "\"evil@example.jp\r\nBcc: victim@example.com\",悪,意,開発部,ja,,はい"

// writeRoster writes the roster as Excel in Japan does (CP932, CRLF,
// Japanese headers) with the hostile row after the first few alumni, and
// returns its path and the line the hostile record starts on.
func writeRoster(t *testing.T, dir string) (string, int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("メールアドレス,姓,名,部署,言語,タグ,同意\r\n")
	line, hostileLine := 2, 0
	for i, a := range journeyRoster {
		if i == 5 {
			b.WriteString(hostileRow + "\r\n")
			hostileLine = line
			line += 2
		}
		fmt.Fprintf(&b, "%s,%s,%s,%s,%s,%s,%s\r\n", a.email, a.family, a.given, a.dept, a.locale, a.tags, a.consent)
		line++
	}
	sjis, err := japanese.ShiftJIS.NewEncoder().String(b.String())
	if err != nil {
		t.Fatalf("encode the roster as CP932: %v", err)
	}
	return writeFile(t, dir, "alumni.csv", []byte(sjis)), hostileLine
}

// copyExample copies a file of examples/campaigns into dir.
func copyExample(t *testing.T, dir, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "examples", "campaigns", name))
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, name, data)
}

// parsed is one received message, decoded.
type parsed struct {
	to, subject, text, html string
	header                  mail.Header
}

// parseMessage decodes a message the relay accepted with go-message: its
// headers (RFC 2047) and the text and HTML parts (transfer encoding and
// charset undone).
func parseMessage(t *testing.T, m smtptest.Message) parsed {
	t.Helper()
	mr, err := mail.CreateReader(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatalf("message to %v does not parse: %v", m.To, err)
	}
	p := parsed{to: strings.Join(m.To, ","), header: mr.Header}
	if p.subject, err = mr.Header.Subject(); err != nil {
		t.Errorf("message to %v: subject: %v", m.To, err)
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("message to %v: part: %v", m.To, err)
		}
		body, err := io.ReadAll(part.Body)
		if err != nil {
			t.Fatalf("message to %v: part body: %v", m.To, err)
		}
		if h, ok := part.Header.(*mail.InlineHeader); ok {
			ct, _, _ := h.ContentType()
			switch ct {
			case "text/plain":
				p.text += string(body)
			case "text/html":
				p.html += string(body)
			}
		}
	}
	return p
}

const launchID = "alumni-network-launch"
const companyAddress = "〒150-0000 東京都渋谷区サンプル町1-2-3 サンプルビル5階"

func TestJourney(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	campaignsDir := filepath.Join(dir, "campaigns")
	if err := os.Mkdir(campaignsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	copyExample(t, campaignsDir, "kizuna.yaml")
	launch := copyExample(t, campaignsDir, launchID+".yaml")
	roster, hostileLine := writeRoster(t, dir)

	// 0. The schema (already there in a test database: migrate is a no-op
	// that must still succeed).
	e.must(t, "migrate")

	// 1. Import the roster: every good row in, the hostile one rejected with
	// its line, exit 2.
	r := kizuna(t, e.vars, "alumni", "import", roster, "--json")
	if r.Code != 2 {
		t.Fatalf("import with one bad row: want exit 2\n%s", r)
	}
	var imp struct {
		Imported, Updated, Unchanged int
		Rejected                     []struct {
			Line          int
			Email, Reason string
		}
	}
	if err := json.Unmarshal([]byte(r.Stdout), &imp); err != nil {
		t.Fatalf("import --json: %v\n%s", err, r)
	}
	if imp.Imported != len(journeyRoster) || imp.Updated != 0 || imp.Unchanged != 0 || len(imp.Rejected) != 1 {
		t.Fatalf("import: %+v; want %d imported and the hostile row rejected\n%s", imp, len(journeyRoster), r)
	}
	if rej := imp.Rejected[0]; rej.Line != hostileLine || !strings.HasPrefix(rej.Email, "evil@example.jp") || rej.Reason == "" {
		t.Errorf("rejection %+v; want line %d, the raw address and a reason", rej, hostileLine)
	}
	// Importing the same file again changes nothing; without --json the
	// summary names the encoding and the bad row is listed on stderr as
	// FILE:LINE: EMAIL: REASON, on one line: the CR/LF it carries must not
	// forge a line of its own.
	r = kizuna(t, e.vars, "alumni", "import", roster)
	summary := fmt.Sprintf("imported 0, updated 0, unchanged %d, rejected 1", len(journeyRoster))
	if r.Code != 2 || !strings.Contains(r.Stdout, summary) || !strings.Contains(r.Stdout, "cp932") {
		t.Errorf("second import of the same file: want exit 2 and %q (cp932)\n%s", summary, r)
	}
	if !strings.HasPrefix(r.Stderr, fmt.Sprintf("%s:%d: ", roster, hostileLine)) || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
		t.Errorf("second import: want exactly one stderr line starting %s:%d:\n%s", roster, hostileLine, r)
	}

	var expected []alumnus
	for _, a := range journeyRoster {
		if a.subject != "" {
			expected = append(expected, a)
		}
	}
	reach := len(expected)

	// 2. Validate the folder, with the reach since the database answers.
	r = e.must(t, "campaign", "validate", campaignsDir, "--json")
	var val struct {
		OK        bool
		Campaigns []struct {
			ID    string
			File  string
			Reach *int
		}
		Errors []json.RawMessage
	}
	if err := json.Unmarshal([]byte(r.Stdout), &val); err != nil {
		t.Fatalf("validate --json: %v\n%s", err, r)
	}
	if !val.OK || len(val.Errors) != 0 || len(val.Campaigns) != 1 || val.Campaigns[0].ID != launchID ||
		val.Campaigns[0].Reach == nil || *val.Campaigns[0].Reach != reach {
		t.Fatalf("validate: %+v; want ok with %s reaching %d\n%s", val, launchID, reach, r)
	}

	// 3. Start it without a terminal: refused without --yes, started with it.
	if r = kizuna(t, e.vars, "campaign", "start", launch); r.Code != 2 {
		t.Errorf("start without --yes and without a terminal: want exit 2\n%s", r)
	}
	run := e.start(t, "kizuna run", "run", "--campaigns", campaignsDir)
	r = e.must(t, "campaign", "start", launch, "--yes")
	if !strings.Contains(r.Stdout, fmt.Sprintf("%d deliveries", reach)) {
		t.Errorf("start: want %d deliveries in\n%s", reach, r)
	}
	began := time.Now()
	st := e.waitDone(t, launchID, 1, 30*time.Second, run)
	t.Logf("run 1: %d messages sent %s after the start", st[0].Sent, time.Since(began).Round(time.Millisecond))
	if s := st[0]; s.Run != 1 || s.Kind != "send" || s.Total != reach || s.Sent != reach || s.Failed != 0 || s.Pending != 0 {
		t.Errorf("run 1 status %+v; want total = sent = %d, nothing failed or pending", s, reach)
	}

	// 4. The mail: one message per consenting recipient in the audience,
	// personalised in their language, with the headers and footer the law
	// and the mailbox providers ask for.
	msgs := e.relay.Messages()
	if len(msgs) != reach {
		t.Errorf("relay got %d messages, want %d", len(msgs), reach)
	}
	byRecipient := map[string]parsed{}
	messageIDs := map[string]string{}
	for _, m := range msgs {
		p := parseMessage(t, m)
		if len(m.To) != 1 {
			t.Errorf("message with envelope recipients %v; want exactly one", m.To)
		}
		if _, dup := byRecipient[p.to]; dup {
			t.Errorf("%s got two messages", p.to)
		}
		byRecipient[p.to] = p
		checkMessage(t, p, messageIDs)
	}
	for _, a := range journeyRoster {
		p, got := byRecipient[strings.ToLower(a.email)]
		if a.subject == "" {
			if got {
				t.Errorf("%s (consent %s, tags %q) must get nothing; got %q", a.email, a.consent, a.tags, p.subject)
			}
			continue
		}
		if !got {
			t.Errorf("%s got no message", a.email)
			continue
		}
		if p.subject != a.subject {
			t.Errorf("%s: subject %q, want %q", a.email, p.subject, a.subject)
		}
		if !strings.Contains(p.text, a.greeting) {
			t.Errorf("%s: text part lacks the greeting %q:\n%s", a.email, a.greeting, testbin.Tail(p.text, 800))
		}
	}
	if p, ok := byRecipient["eve@example.com"]; ok {
		if strings.Contains(p.html, "<script>") || !strings.Contains(p.html, "&lt;script&gt;") {
			t.Errorf("a name that is markup must be escaped in HTML:\n%s", p.html)
		}
	}

	// 5. One person unsubscribes; a second run reaches everyone else.
	gone := expected[0].email
	e.must(t, "alumni", "unsubscribe", gone)
	r = kizuna(t, e.vars, "campaign", "start", launchID, "--yes")
	if r.Code != 2 || !strings.Contains(r.Stderr, "--again") {
		t.Errorf("a second start without --again: want exit 2 naming --again\n%s", r)
	}
	e.must(t, "campaign", "start", launchID, "--yes", "--again")
	st = e.waitDone(t, launchID, 2, 30*time.Second, run)
	if s := st[1]; s.Run != 2 || s.Sent != reach-1 || s.Failed != 0 || s.Pending != 0 {
		t.Errorf("run 2 status %+v; want %d sent (everyone but the unsubscribed), none failed", s, reach-1)
	}
	if s := st[0]; s.Sent != reach {
		t.Errorf("run 1 changed after run 2: %+v", s)
	}
	counts := perRecipient(e.relay)
	for _, a := range journeyRoster {
		want := 2
		switch {
		case a.subject == "":
			want = 0
		case a.email == gone:
			want = 1
		}
		if got := counts[strings.ToLower(a.email)]; got != want {
			t.Errorf("%s got %d messages over both runs, want %d", a.email, got, want)
		}
	}
	for _, m := range e.relay.Messages()[len(msgs):] {
		checkMessage(t, parseMessage(t, m), messageIDs)
	}
	t.Logf("run 2: %d sent; relay accepted %d messages in all, %d distinct Message-IDs", st[1].Sent, e.relay.Accepted(), len(messageIDs))

	// 6. The history of a person who stayed and of the one who left.
	checkHistory(t, e, expected[1].email, "active", 2)
	checkHistory(t, e, gone, "unsubscribed", 1)

	// 7. SIGTERM stops kizuna run cleanly.
	code, took := run.Terminate(t, 30*time.Second)
	if code != 0 {
		t.Errorf("kizuna run exited %d after SIGTERM, want 0\n%s", code, testbin.Tail(run.Output(), 4000))
	}
	t.Logf("kizuna run stopped %s after SIGTERM", took.Round(time.Millisecond))
}

// checkMessage asserts what every message carries (SPEC.md, Messages) and
// that its Message-ID was not seen before.
func checkMessage(t *testing.T, p parsed, seen map[string]string) {
	t.Helper()
	h := p.header
	if lu := h.Get("List-Unsubscribe"); !strings.HasPrefix(lu, "<"+baseURL+"/u/") {
		t.Errorf("%s: List-Unsubscribe %q, want <%s/u/TOKEN>", p.to, lu, baseURL)
	}
	if lup := h.Get("List-Unsubscribe-Post"); lup != "List-Unsubscribe=One-Click" {
		t.Errorf("%s: List-Unsubscribe-Post %q", p.to, lup)
	}
	if lid := h.Get("List-Id"); lid != "<"+launchID+".example.co.jp>" {
		t.Errorf("%s: List-Id %q", p.to, lid)
	}
	id, err := h.MessageID()
	if err != nil || id == "" {
		t.Errorf("%s: Message-ID %q: %v", p.to, h.Get("Message-ID"), err)
	} else if other, dup := seen[id]; dup {
		t.Errorf("Message-ID %s used for %s and %s", id, other, p.to)
	} else {
		seen[id] = p.to
	}
	if to, err := h.AddressList("To"); err != nil || len(to) != 1 || !strings.EqualFold(to[0].Address, p.to) {
		t.Errorf("To header %q (%v) does not match the envelope %s", h.Get("To"), err, p.to)
	}
	if from, err := h.AddressList("From"); err != nil || len(from) != 1 || from[0].Address != "alumni@example.co.jp" {
		t.Errorf("%s: From %q (%v)", p.to, h.Get("From"), err)
	}
	if p.text == "" || p.html == "" {
		t.Errorf("%s: want a text and an HTML part (text %d bytes, html %d bytes)", p.to, len(p.text), len(p.html))
	}
	for part, body := range map[string]string{"text": p.text, "html": p.html} {
		if !strings.Contains(body, companyAddress) {
			t.Errorf("%s: the %s part lacks the company's postal address", p.to, part)
		}
		if !strings.Contains(body, "株式会社サンプル技研") {
			t.Errorf("%s: the %s part lacks the sender's name", p.to, part)
		}
		if !strings.Contains(body, baseURL+"/u/") {
			t.Errorf("%s: the %s part lacks the unsubscribe link", p.to, part)
		}
	}
}

// checkHistory asserts that `alumni show EMAIL --json` has the status and
// one sent delivery of the launch campaign per run, runs numbered from 1.
func checkHistory(t *testing.T, e *env, email, status string, runs int) {
	t.Helper()
	r := e.must(t, "alumni", "show", email, "--json")
	var doc struct {
		Email   string
		Status  string
		History []struct {
			Type       string
			At         *time.Time
			CampaignID string `json:"campaign_id"`
			Run        *int
			State      string
		}
	}
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("alumni show --json: %v\n%s", err, r)
	}
	if doc.Email != strings.ToLower(email) || doc.Status != status {
		t.Errorf("alumni show %s: email %q status %q, want status %q", email, doc.Email, doc.Status, status)
	}
	var got []int
	for _, h := range doc.History {
		if h.Type != "delivery" {
			continue
		}
		if h.CampaignID != launchID || h.State != "sent" || h.At == nil || h.Run == nil {
			t.Errorf("alumni show %s: delivery %+v; want a sent delivery of %s with a date and a run", email, h, launchID)
			continue
		}
		got = append(got, *h.Run)
	}
	if len(got) != runs {
		t.Errorf("alumni show %s: deliveries of runs %v, want one in each of %d runs\n%s", email, got, runs, r.Stdout)
	}
	for i, n := range got {
		if n != i+1 {
			t.Errorf("alumni show %s: deliveries of runs %v, want 1..%d in order", email, got, runs)
			break
		}
	}
}
