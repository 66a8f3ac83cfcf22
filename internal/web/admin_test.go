package web_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"

	"github.com/kizuna-alumni/kizuna/internal/inbound"
	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/store"
	"github.com/kizuna-alumni/kizuna/internal/tasks"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
	"github.com/kizuna-alumni/kizuna/internal/testredis"
	"github.com/kizuna-alumni/kizuna/internal/token"
	"github.com/kizuna-alumni/kizuna/internal/web"
)

// adminToken is the fixture's KIZUNA_ADMIN_TOKEN.
const adminToken = "adm-7f3c9e21b4d84a0f9c6e5b1a2d3f4e5c"

// Hostile text a person or a stranger can put in front of HR: their name
// in the roster, a reply's subject and text.
const (
	hostileFamily  = `<script>alert("family")</script>`
	hostileGiven   = `"><img/src=x/onerror=alert(1)>`
	hostileSubject = `Re: <b/onmouseover="alert(2)">ありがとう</b> & "quotes"`
	hostileText    = `参加します。<script>alert(3)</script>`
	strangerSubj   = `ご質問 <iframe src="https://evil.example/">`
)

// adminNow is the fixture's clock: the newsletter's next occurrence (cron
// "0 10 1 * *" in Tokyo) is 2026-12-01 10:00 JST.
var adminNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// adminFix is a database with a monthly newsletter of two runs (the first
// done, with opens, clicks, unsubscribes, bounces, failures and a human
// reply from a person whose name is hostile; the second still sending), an
// event with RSVPs past its capacity, and an unattributed inbound message;
// and a web server with the dashboard in front of it.
type adminFix struct {
	db   *testdb.DB
	srv  *httptest.Server
	logs *syncBuffer
	news string // the newsletter's id
}

// syncBuffer is a log destination the server writes from its handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// adminReplier is the person who replies in the fixture and their reply.
type adminReplier struct{ email, family, given, subject, text string }

var (
	hostileReplier  = adminReplier{"evil@example.jp", hostileFamily, hostileGiven, hostileSubject, hostileText}
	friendlyReplier = adminReplier{"misaki.sato@example.jp", "佐藤", "美咲", "Re: アルムナイ通信 11月号",
		"いつもお便りありがとうございます。年末の交流会、ぜひ参加させてください。元の部署の皆さんにもよろしくお伝えください。"}
)

func newAdminFix(t *testing.T, opt web.Options) *adminFix {
	t.Helper()
	return newAdminFixWith(t, opt, hostileReplier)
}

func newAdminFixWith(t *testing.T, opt web.Options, who adminReplier) *adminFix {
	t.Helper()
	ctx := t.Context()
	db := testdb.New(t)
	f := &adminFix{db: db, logs: &syncBuffer{}, news: "alumni-news"}
	signer := token.New([]byte(unsubSecret))

	// 40 people and one whose name is hostile (index 40).
	people := testdb.AlumniSeries(t, db, testdb.AlumniOpts{N: 40, Like: testdb.Alumnus{FamilyName: "山田", Consent: true},
		Each: func(i int, a *testdb.Alumnus) { a.GivenName = fmt.Sprintf("太郎%d", i) }})
	evil := testdb.Alumni(t, db, testdb.Alumnus{Email: who.email, FamilyName: who.family, GivenName: who.given, Consent: true})[0]
	people = append(people, evil)

	news := unsubCampaign()
	news.ID, news.Digest = f.news, "digest-admin-news"
	news.Schedule.Cron, news.Schedule.Timezone = "0 10 1 * *", "Asia/Tokyo"
	v, err := runs.RegisterVersion(ctx, db.DB, news)
	if err != nil {
		t.Fatal(err)
	}
	sentAt := adminNow.Add(-48 * time.Hour)
	// Run 1, done: 36 sent (the hostile person among them), 2 failed,
	// 3 suppressed.
	run1 := testdb.Run(t, db, testdb.RunOpts{Campaign: f.news, Version: v, Number: 1, State: runs.StateDone})
	sent := testdb.Deliveries(t, db, testdb.DeliveriesOpts{Run: run1, Alumni: append(people[:35:35], evil), State: "sent", SentAt: sentAt})
	testdb.Deliveries(t, db, testdb.DeliveriesOpts{Run: run1, Alumni: people[35:37], State: "failed"})
	testdb.Deliveries(t, db, testdb.DeliveriesOpts{Run: run1, Alumni: people[37:40], State: "suppressed"})
	var events []runs.Event
	for i := 0; i < 24; i++ { // 24 people open, 9 of them click an hour later
		events = append(events, runs.Event{DeliveryID: sent[i], Kind: runs.EventOpen, Classification: runs.ClassHuman, At: sentAt.Add(time.Hour)})
		if i < 9 {
			events = append(events, runs.Event{DeliveryID: sent[i], Kind: runs.EventClick, Classification: runs.ClassHuman,
				URL: "https://example.co.jp/", At: sentAt.Add(2 * time.Hour)})
		}
	}
	if err := runs.RecordEvents(ctx, db.DB, events); err != nil {
		t.Fatal(err)
	}
	err = store.InTx(ctx, db.DB, func(tx *sqlx.Tx) error {
		for _, d := range sent[30:32] {
			if _, err := runs.RecordUnsubscribe(ctx, tx, d, "one-click"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := runs.RecordBounces(ctx, db.DB, sent[32:35], []string{"550 5.1.1 no such user", "550 5.1.1 unknown", "550 5.1.1 gone"}); err != nil {
		t.Fatal(err)
	}
	// Run 2, still sending: 20 sent, 21 pending.
	run2 := testdb.Run(t, db, testdb.RunOpts{Campaign: f.news, Version: v, Number: 2, State: runs.StateSending})
	testdb.Deliveries(t, db, testdb.DeliveriesOpts{Run: run2, Alumni: people[:20], State: "sent", SentAt: adminNow.Add(-time.Hour)})
	testdb.Deliveries(t, db, testdb.DeliveriesOpts{Run: run2, Alumni: people[20:], State: "pending"})

	// The event: capacity 3, four yes (one waitlisted), two maybe, one no.
	ev, err := runs.RegisterVersion(ctx, db.DB, rsvpCampaign(3, "digest-admin-event"))
	if err != nil {
		t.Fatal(err)
	}
	evRun, _, err := runs.Create(ctx, db.DB, ev, "o1", runs.KindSend)
	if err != nil {
		t.Fatal(err)
	}
	guests := testdb.Deliveries(t, db, testdb.DeliveriesOpts{Run: evRun.ID, Alumni: people[:10], State: "sent", SentAt: sentAt})
	for i, a := range []string{runs.AnswerYes, runs.AnswerYes, runs.AnswerYes, runs.AnswerYes, runs.AnswerMaybe, runs.AnswerMaybe, runs.AnswerNo} {
		if _, err := runs.RecordRSVP(ctx, db.DB, runs.Answer{DeliveryID: guests[i], Answer: a, At: rsvpBefore, Via: "web"}, nil); err != nil {
			t.Fatal(err)
		}
	}

	// Mail that came back: the hostile person's reply to run 1 (found by
	// its In-Reply-To) and a stranger's message that answers nothing.
	p, err := inbound.New(inbound.Options{DB: db.DB, Signer: signer, Address: "reply@in.example.co.jp"})
	if err != nil {
		t.Fatal(err)
	}
	evilDelivery := sent[len(sent)-1]
	mid := fmt.Sprintf("<d%d.%d.%s@example.co.jp>", evilDelivery, run1,
		signer.Digest(token.Claims{Purpose: token.MessageID, DeliveryID: evilDelivery}))
	for _, raw := range []string{
		"From: " + who.email + "\r\nTo: alumni@example.co.jp\r\nSubject: " + mimeWord(who.subject) + "\r\n" +
			"Message-ID: <r1@example.jp>\r\nIn-Reply-To: " + mid + "\r\nDate: Fri, 20 Nov 2026 10:00:00 +0900\r\n" +
			"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + who.text + "\r\n",
		"From: stranger@example.org\r\nTo: alumni@example.co.jp\r\nSubject: " + mimeWord(strangerSubj) + "\r\n" +
			"Message-ID: <s1@example.org>\r\nDate: Fri, 20 Nov 2026 11:00:00 +0900\r\n" +
			"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n",
	} {
		id, _, err := p.Store(ctx, inbound.SourceSMTP, "sender@example.org", []string{"alumni@example.co.jp"}, []byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Process(ctx, id); err != nil {
			t.Fatal(err)
		}
	}

	if opt.Log == nil {
		opt.Log = slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	opt.DB, opt.Signer = db.DB, signer
	if opt.Now == nil {
		opt.Now = func() time.Time { return adminNow }
	}
	s, err := web.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(s.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

// mimeWord encodes s as an RFC 2047 encoded-word (UTF-8, base64).
func mimeWord(s string) string {
	return "=?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte(s)) + "?="
}

// get requests path with the header pairs given.
func (f *adminFix) get(t *testing.T, path string, header ...string) unsubAnswer {
	t.Helper()
	return f.do(t, http.MethodGet, path, header...)
}

func (f *adminFix) do(t *testing.T, method, path string, header ...string) unsubAnswer {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return unsubAnswer{code: resp.StatusCode, h: resp.Header, body: string(b)}
}

// admin requests path as HR: with the token as a bearer token.
func (f *adminFix) admin(t *testing.T, path string, header ...string) unsubAnswer {
	t.Helper()
	a := f.get(t, path, append([]string{"Authorization", "Bearer " + adminToken}, header...)...)
	if a.code != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", path, a.code, a.body)
	}
	return a
}

func TestAdminIsNotRoutedWithoutAToken(t *testing.T) {
	f := newAdminFix(t, web.Options{})
	for _, path := range []string{"/admin/", "/admin", "/admin/replies", "/admin/campaigns/alumni-news", "/admin/queues/", "/static/admin.css"} {
		a := f.get(t, path, "Authorization", "Bearer "+adminToken)
		if a.code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", path, a.code)
		}
		if h := a.h.Get("WWW-Authenticate"); h != "" {
			t.Errorf("%s: WWW-Authenticate %q on a disabled dashboard", path, h)
		}
	}
}

func TestAdminAsksForTheTokenAndTakesBearerOrBasic(t *testing.T) {
	f := newAdminFix(t, web.Options{AdminToken: adminToken})
	wrong := "adm-7f3c9e21b4d84a0f9c6e5b1a2d3f4e5d" // one character off
	refused := []struct {
		name   string
		header []string
	}{
		{"nothing", nil},
		{"wrong bearer", []string{"Authorization", "Bearer " + wrong}},
		{"empty bearer", []string{"Authorization", "Bearer "}},
		{"wrong basic", []string{"Authorization", basic("hr", wrong)}},
		{"token as the user name", []string{"Authorization", basic(adminToken, "")}},
		{"another scheme", []string{"Authorization", "Token " + adminToken}},
	}
	for _, path := range []string{"/admin/", "/admin/replies", "/admin/campaigns/alumni-news", "/admin/nothing-here"} {
		for _, c := range refused {
			a := f.get(t, path, c.header...)
			if a.code != http.StatusUnauthorized {
				t.Errorf("%s, %s: %d, want 401", path, c.name, a.code)
			}
			if h := a.h.Get("WWW-Authenticate"); h != `Basic realm="Kizuna", charset="UTF-8"` {
				t.Errorf("%s, %s: WWW-Authenticate %q", path, c.name, h)
			}
			if strings.Contains(a.body, f.news) || strings.Contains(a.body, "山田") {
				t.Errorf("%s, %s: the 401 page shows data", path, c.name)
			}
			if cc := a.h.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("%s, %s: Cache-Control %q", path, c.name, cc)
			}
		}
	}
	for _, h := range [][]string{
		{"Authorization", "Bearer " + adminToken},
		{"Authorization", "bearer " + adminToken},
		{"Authorization", basic("hr", adminToken)},
		{"Authorization", basic("", adminToken)},
	} {
		if a := f.get(t, "/admin/", h...); a.code != http.StatusOK || !strings.Contains(a.body, f.news) {
			t.Errorf("%q: %d, want the campaigns page", h[1][:8], a.code)
		}
	}
	if a := f.get(t, "/admin/nothing-here", "Authorization", "Bearer "+adminToken); a.code != http.StatusNotFound {
		t.Errorf("an unknown dashboard page: %d, want 404", a.code)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, "refused a wrong token") {
		t.Errorf("a wrong token is not logged at all:\n%s", logs)
	}
	for _, secret := range []string{adminToken, wrong, "7f3c9e21b4d84a0f9c6e5b1a2d3f4e5"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs hold a token %q:\n%s", secret, logs)
		}
	}
}

// basic is an HTTP Basic Authorization value (RFC 7617).
func basic(user, password string) string {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(user, password)
	return r.Header.Get("Authorization")
}

// checkAdminPage: an HTML page never cached, under the server's strict CSP
// (no script), and nothing in it that the CSP would block.
func checkAdminPage(t *testing.T, what string, a unsubAnswer) {
	t.Helper()
	if ct := a.h.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("%s: Content-Type %q", what, ct)
	}
	if cc := a.h.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("%s: Cache-Control %q, want no-store", what, cc)
	}
	csp := a.h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "style-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: CSP %q lacks %q", what, csp, want)
		}
	}
	if strings.Contains(csp, "script-src") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("%s: CSP %q allows script or inline content", what, csp)
	}
	if a.h.Get("X-Frame-Options") != "DENY" || a.h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("%s: security headers %v", what, a.h)
	}
	checkCSPClean(t, a.body)
}

// checkEscaped fails when any hostile text reached the page unescaped.
func checkEscaped(t *testing.T, what, body string) {
	t.Helper()
	for _, bad := range []string{"<script", "<img", "<b/", "<iframe"} {
		if strings.Contains(strings.ToLower(body), bad) {
			t.Errorf("%s: %q reached the page unescaped", what, bad)
		}
	}
}

// funnelCount is the number a funnel chip of the campaigns page shows for
// label in the row of campaign id.
func funnelCount(t *testing.T, body, id, label string) string {
	t.Helper()
	row := regexp.MustCompile(`(?s)<tr>\s*<th scope="row"><a class="cid" href="[^"]*">` + regexp.QuoteMeta(id) + `</a>.*?</tr>`).FindString(body)
	if row == "" {
		t.Fatalf("no row for %s", id)
	}
	m := regexp.MustCompile(`<span class="fl">` + regexp.QuoteMeta(label) + `</span> <strong>([\d,]+)</strong>(?: <span class="share">([\d.]+%)</span>)?`).FindStringSubmatch(row)
	if m == nil {
		t.Fatalf("row %s has no %s:\n%s", id, label, row)
	}
	if m[2] != "" {
		return m[1] + " " + m[2]
	}
	return m[1]
}

func TestAdminCampaignsShowEachLatestRunsFunnelAndNextOccurrence(t *testing.T) {
	f := newAdminFix(t, web.Options{AdminToken: adminToken})
	a := f.admin(t, "/admin/")
	checkAdminPage(t, "/admin/", a)
	checkEscaped(t, "/admin/", a.body)
	// The newsletter's latest run is run 2 (sending, 20 of 41 sent).
	for label, want := range map[string]string{"送信": "20", "開封": "0 0.0%", "返信": "0 0.0%"} {
		if got := funnelCount(t, a.body, f.news, label); got != want {
			t.Errorf("alumni-news %s: %q, want %q", label, got, want)
		}
	}
	for _, want := range []string{"第2回 · 配信", "送信中", "2026-12-01 10:00 JST", "ニュースレター", "イベント",
		`href="/admin/campaigns/alumni-news"`, `href="/admin/campaigns/year-end"`} {
		if !strings.Contains(a.body, want) {
			t.Errorf("the campaigns page lacks %q", want)
		}
	}
	if got := funnelCount(t, a.body, "year-end", "送信"); got != "10" {
		t.Errorf("year-end sent: %q, want 10", got)
	}
}

func TestAdminCampaignPageDrawsEachRunAndItsReplies(t *testing.T) {
	f := newAdminFix(t, web.Options{AdminToken: adminToken})
	a := f.admin(t, "/admin/campaigns/"+f.news)
	checkAdminPage(t, "campaign page", a)
	checkEscaped(t, "campaign page", a.body)

	charts := regexp.MustCompile(`(?s)<svg class="chart"[^>]*role="img" aria-labelledby="(chart-run-\d+)-t chart-run-\d+-d"[^>]*>\s*<title id="chart-run-\d+-t">([^<]*)</title>\s*<desc id="chart-run-\d+-d">([^<]*)</desc>(.*?)</svg>`).FindAllStringSubmatch(a.body, -1)
	if len(charts) != 2 {
		t.Fatalf("%d charts, want one per run (2)", len(charts))
	}
	if charts[0][1] != "chart-run-2" || charts[1][1] != "chart-run-1" {
		t.Errorf("charts %s, %s: want the newest run first", charts[0][1], charts[1][1])
	}
	run1 := charts[1]
	if run1[2] != "第1回（配信）の配信ファネル" {
		t.Errorf("run 1's chart title %q", run1[2])
	}
	// Run 1: 41 recipients, 36 sent, 24 opened, 9 clicked, 1 replied,
	// 2 unsubscribed, 3 bounced, 2 failed; shares of what was sent.
	wantDesc := "送信 36 (87.8%)、開封 24 (66.7%)、クリック 9 (25.0%)、返信 1 (2.8%)、配信停止 2 (5.6%)、不達 3 (8.3%)、失敗 2 (4.9%)"
	if html := strings.ReplaceAll(run1[3], "&#34;", `"`); html != wantDesc {
		t.Errorf("run 1's chart desc\n got %q\nwant %q", run1[3], wantDesc)
	}
	// Bars are scaled to the 41 recipients on 320 units.
	bars := regexp.MustCompile(`<g class="bar b-(\w+)">\s*<text class="label"[^>]*>([^<]*)</text>\s*<rect class="track"[^>]*/>\s*<rect class="fill" x="112" y="\d+" width="(\d+)"[^>]*/>\s*<text class="value"[^>]*>([^<]*)</text>`).FindAllStringSubmatch(run1[4], -1)
	got := []string{}
	for _, b := range bars {
		got = append(got, b[1]+"="+b[3]+":"+b[4])
	}
	want := []string{"sent=280:36 (87.8%)", "opened=187:24 (66.7%)", "clicked=70:9 (25.0%)", "replied=7:1 (2.8%)",
		"unsubscribed=15:2 (5.6%)", "bounced=23:3 (8.3%)", "failed=15:2 (4.9%)"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("run 1's bars\n got %v\nwant %v", got, want)
	}
	// The runs table: run 2 first, with its counts.
	for _, want := range []string{"第2回", "送信中", "完了", "<td class=\"num\">41</td>", "<td class=\"num\">21</td>"} {
		if !strings.Contains(a.body, want) {
			t.Errorf("the runs table lacks %q", want)
		}
	}
	// The reply, its hostile subject, text and sender's name escaped.
	for _, want := range []string{
		"Re: &lt;b/onmouseover=&#34;alert(2)&#34;&gt;ありがとう&lt;/b&gt; &amp; &#34;quotes&#34;",
		"参加します。&lt;script&gt;alert(3)&lt;/script&gt;",
		"&lt;script&gt;alert(&#34;family&#34;)&lt;/script&gt; &#34;&gt;&lt;img/src=x/onerror=alert(1)&gt;",
		"evil@example.jp", "2026-", " JST",
	} {
		if !strings.Contains(a.body, want) {
			t.Errorf("the replies lack %q", want)
		}
	}
	if strings.Contains(a.body, "ご質問") {
		t.Error("an unattributed message is listed as a reply of the campaign")
	}

	ev := f.admin(t, "/admin/campaigns/year-end")
	desc := regexp.MustCompile(`<desc id="chart-run-1-d">([^<]*)</desc>`).FindStringSubmatch(ev.body)
	if desc == nil || !strings.HasSuffix(desc[1], "出席 3 (30.0%)、未定 2 (20.0%)、欠席 1 (10.0%)、キャンセル待ち 1 (10.0%)") {
		t.Errorf("the event's chart desc %q lacks the RSVPs", desc)
	}
}

func TestAdminRepliesListsRepliesAndUnattributedMail(t *testing.T) {
	f := newAdminFix(t, web.Options{AdminToken: adminToken})
	a := f.admin(t, "/admin/replies")
	checkAdminPage(t, "/admin/replies", a)
	checkEscaped(t, "/admin/replies", a.body)
	tables := regexp.MustCompile(`(?s)<table class="list (\w+)">(.*?)</table>`).FindAllStringSubmatch(a.body, -1)
	if len(tables) != 2 || tables[0][1] != "replies" || tables[1][1] != "inbound" {
		t.Fatalf("tables %v, want replies then inbound", len(tables))
	}
	rows := func(s string) int { return strings.Count(s, "<tr>") - 1 }
	if rows(tables[0][2]) != 1 || rows(tables[1][2]) != 1 {
		t.Errorf("%d replies and %d unattributed, want 1 and 1", rows(tables[0][2]), rows(tables[1][2]))
	}
	for _, want := range []string{`<a href="/admin/campaigns/alumni-news">alumni-news</a>`, "第1回", "evil@example.jp",
		"2026-", "参加します。&lt;script&gt;"} {
		if !strings.Contains(tables[0][2], want) {
			t.Errorf("the replies table lacks %q", want)
		}
	}
	for _, want := range []string{"stranger@example.org", "ご質問 &lt;iframe src=&#34;https://evil.example/&#34;&gt;", "人が書いたメール", "smtp"} {
		if !strings.Contains(tables[1][2], want) {
			t.Errorf("the unattributed table lacks %q", want)
		}
	}
}

func TestAdminSpeaksJapaneseFirstAndEnglishWhenAsked(t *testing.T) {
	f := newAdminFix(t, web.Options{AdminToken: adminToken})
	cases := []struct {
		path, accept, want, lang string
	}{
		{"/admin/", "", "キャンペーン一覧", "ja"},
		{"/admin/", "en-US,en;q=0.9", "<h1>Campaigns</h1>", "en"},
		{"/admin/", "ja,en;q=0.5", "キャンペーン一覧", "ja"},
		{"/admin/", "fr-FR,en;q=0.8,ja;q=0.6", "<h1>Campaigns</h1>", "en"},
		{"/admin/?lang=en", "ja", "<h1>Campaigns</h1>", "en"},
		{"/admin/replies?lang=en", "", "Received mail not matched to any delivery", "en"},
		{"/admin/campaigns/alumni-news?lang=en", "", "Delivery funnel of run 1 (Send)", "en"},
	}
	for _, c := range cases {
		a := f.admin(t, c.path, "Accept-Language", c.accept)
		if !strings.Contains(a.body, c.want) || !strings.Contains(a.body, `<html lang="`+c.lang+`">`) {
			t.Errorf("%s (Accept-Language %q): want %q in %s", c.path, c.accept, c.want, c.lang)
		}
	}
	a := f.admin(t, "/admin/?lang=en")
	if !strings.Contains(a.body, `href="/admin/campaigns/alumni-news?lang=en"`) || !strings.Contains(a.body, `href="/admin/replies?lang=en"`) {
		t.Error("links of an English page do not keep ?lang=en")
	}
}

func TestAdminUnknownCampaignIsA404(t *testing.T) {
	f := newAdminFix(t, web.Options{AdminToken: adminToken})
	a := f.get(t, "/admin/campaigns/no-such", "Authorization", "Bearer "+adminToken)
	if a.code != http.StatusNotFound || !strings.Contains(a.body, "このキャンペーンは登録されていません") {
		t.Errorf("unknown campaign: %d\n%s", a.code, a.body)
	}
	checkAdminPage(t, "404", a)
}

func TestAdminQueueMonitorIsReadOnlyUnderItsOwnCSP(t *testing.T) {
	rdb := testredis.New(t)
	enqueueOne(t, rdb)
	f := newAdminFix(t, web.Options{AdminToken: adminToken, Redis: rdb.Client})

	if a := f.get(t, "/admin/queues/"); a.code != http.StatusUnauthorized {
		t.Errorf("the queue monitor without the token: %d, want 401", a.code)
	}
	page := f.admin(t, "/admin/queues/")
	csp := page.h.Get("Content-Security-Policy")
	hashes := regexp.MustCompile(`'sha256-[A-Za-z0-9+/]+=*'`).FindAllString(csp, -1)
	inline := strings.Count(page.body, "<script>")
	if inline == 0 || len(hashes) != inline {
		t.Errorf("%d inline scripts in the monitor's page, %d hashes in its CSP %q", inline, len(hashes), csp)
	}
	for _, want := range []string{"default-src 'none'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("the monitor's CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "https:") || strings.Contains(csp, "script-src *") {
		t.Errorf("the monitor's CSP %q allows more than its own scripts", csp)
	}
	if strings.Contains(page.body, "googleapis") || strings.Contains(page.body, "https://") {
		t.Errorf("the monitor's page loads from elsewhere:\n%.600s", page.body)
	}
	if !strings.Contains(page.body, `src="/admin/queues/static/js/`) {
		t.Errorf("the monitor's page does not load its scripts from /admin/queues/:\n%.400s", page.body)
	}

	api := f.admin(t, "/admin/queues/api/queues")
	var got struct {
		Queues []struct {
			Queue   string `json:"queue"`
			Pending int    `json:"pending"`
		} `json:"queues"`
	}
	if err := json.Unmarshal([]byte(api.body), &got); err != nil {
		t.Fatalf("api/queues: %v\n%s", err, api.body)
	}
	found := false
	for _, q := range got.Queues {
		if q.Queue == tasks.QueueSend && q.Pending == 1 {
			found = true
		}
	}
	if !found {
		t.Errorf("api/queues %s: want %s with 1 pending task", api.body, tasks.QueueSend)
	}
	if a := f.do(t, http.MethodPost, "/admin/queues/api/queues/"+tasks.QueueSend+":pause", "Authorization", "Bearer "+adminToken); a.code != http.StatusMethodNotAllowed {
		t.Errorf("pausing a queue: %d, want 405", a.code)
	}
	if paused, err := asynq.NewInspectorFromRedisClient(rdb.Client).GetQueueInfo(tasks.QueueSend); err != nil || paused.Paused {
		t.Errorf("the queue: %+v, %v (want it running)", paused, err)
	}
	// The dashboard's own pages keep the strict policy.
	checkAdminPage(t, "/admin/ beside the monitor", f.admin(t, "/admin/"))
	if !strings.Contains(f.admin(t, "/admin/").body, `href="/admin/queues/"`) {
		t.Error("the menu lacks the queue monitor")
	}
}

// enqueueOne puts one send task of three deliveries on the bulk queue.
func enqueueOne(t *testing.T, rdb *testredis.Redis) {
	t.Helper()
	client := asynq.NewClientFromRedisClient(rdb.Client)
	if err := tasks.NewEnqueuer(client).Chunk(t.Context(), 1, 1, []int64{1, 2, 3}, false); err != nil {
		t.Fatal(err)
	}
}
