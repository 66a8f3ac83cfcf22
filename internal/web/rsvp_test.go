package web_test

import (
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ics "github.com/arran4/golang-ical"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/metrics"
	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
	"github.com/kizuna-alumni/kizuna/internal/token"
	"github.com/kizuna-alumni/kizuna/internal/web"
)

var jst = time.FixedZone("JST", 9*3600)

// The event of the RSVP tests: Friday 20 December 2030, 19:00–21:00 in
// Tokyo, answers until Friday 13 December 23:59.
var (
	rsvpStart    = time.Date(2030, 12, 20, 19, 0, 0, 0, jst)
	rsvpEnd      = time.Date(2030, 12, 20, 21, 0, 0, 0, jst)
	rsvpDeadline = time.Date(2030, 12, 13, 23, 59, 0, 0, jst)
	rsvpBefore   = time.Date(2030, 12, 1, 12, 0, 0, 0, jst) // the fixture's clock: answers are open
)

// rsvpCampaign is an event invitation with room for capacity guests (0:
// unlimited); digest names the version.
func rsvpCampaign(capacity int, digest string) *campaigns.Campaign {
	c := unsubCampaign()
	c.ID, c.Kind, c.Digest = "year-end", campaigns.KindEvent, digest
	c.Subject = map[string]string{"ja": "年末アルムナイ交流会のご案内", "en": "Join our year-end alumni evening"}
	dl := rsvpDeadline
	c.Event = &campaigns.Event{
		Title:        "年末アルムナイ交流会",
		StartsAt:     rsvpStart,
		EndsAt:       rsvpEnd,
		Location:     "東京都渋谷区神南1-2-3 Example本社 10F ラウンジ",
		URL:          "https://example.co.jp/events/2030",
		Capacity:     capacity,
		RSVPDeadline: &dl,
		Sequence:     1,
	}
	return c
}

// rsvpFix is a database with one event invitation sent to four people
// (ja in Tokyo, en in Los Angeles, forgotten, ja in Tokyo) and a web
// server in front of it whose clock the test sets.
type rsvpFix struct {
	db      *testdb.DB
	srv     *httptest.Server
	signer  *token.Signer
	metrics *metrics.Metrics
	now     atomic.Int64 // unix nanoseconds of the server's clock
	alumni  []int64
	dels    []int64
	news    int64 // a newsletter's delivery to alumni[0]
}

func newRSVPFix(t *testing.T, capacity int) *rsvpFix {
	t.Helper()
	db := testdb.New(t)
	f := &rsvpFix{db: db, signer: token.New([]byte(unsubSecret)), metrics: metrics.New()}
	f.now.Store(rsvpBefore.UnixNano())
	f.alumni = testdb.Alumni(t, db,
		testdb.Alumnus{Email: "hanako@example.jp", FamilyName: "山田", GivenName: "花子", Locale: "ja", Consent: true},
		testdb.Alumnus{Email: "john@example.com", FamilyName: "Smith", GivenName: "John", Locale: "en", Timezone: "America/Los_Angeles", Consent: true},
		testdb.Alumnus{Status: "forgotten"},
		testdb.Alumnus{Email: "taro@example.jp", FamilyName: "鈴木", GivenName: "太郎", Locale: "ja", Consent: true},
	)
	v, err := runs.RegisterVersion(t.Context(), db.DB, rsvpCampaign(capacity, "digest-rsvp-1"))
	if err != nil {
		t.Fatal(err)
	}
	run, _, err := runs.Create(t.Context(), db.DB, v, "o1", runs.KindSend)
	if err != nil {
		t.Fatal(err)
	}
	f.dels = testdb.Deliveries(t, db, testdb.DeliveriesOpts{Run: run.ID, Alumni: f.alumni, State: "sent"})
	nv, err := runs.RegisterVersion(t.Context(), db.DB, unsubCampaign())
	if err != nil {
		t.Fatal(err)
	}
	nrun, _, err := runs.Create(t.Context(), db.DB, nv, "o1", runs.KindSend)
	if err != nil {
		t.Fatal(err)
	}
	f.news = testdb.Deliveries(t, db, testdb.DeliveriesOpts{Run: nrun.ID, Alumni: f.alumni[:1], State: "sent"})[0]
	s, err := web.New(web.Options{DB: db.DB, Signer: f.signer, Metrics: f.metrics,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now: func() time.Time { return time.Unix(0, f.now.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(s.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

// tok is the RSVP token of delivery i.
func (f *rsvpFix) tok(i int) string {
	return f.signer.Sign(token.Claims{Purpose: token.RSVP, DeliveryID: f.dels[i]})
}

func (f *rsvpFix) do(t *testing.T, method, path string, form url.Values, header ...string) unsubAnswer {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, f.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := rsvpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return unsubAnswer{res.StatusCode, res.Header, string(b)}
}

// rsvpClient hands back a redirect instead of following it: the test
// checks it and follows it itself.
var rsvpClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
	return http.ErrUseLastResponse
}}

func (f *rsvpFix) get(t *testing.T, path string) unsubAnswer {
	t.Helper()
	return f.do(t, "GET", path, nil)
}

func (f *rsvpFix) answer(t *testing.T, i int, a string) unsubAnswer {
	t.Helper()
	return f.do(t, "POST", "/r/"+f.tok(i), url.Values{"a": {a}})
}

// rsvpRow is a person's row in rsvps.
type rsvpRow struct {
	Answer     string `db:"answer"`
	Waitlisted bool   `db:"waitlisted"`
}

// rsvpState is everything an answer may change: every rsvps row and the
// number of notice deliveries.
type rsvpState struct {
	Rows    string `db:"rows"`
	Notices int    `db:"notices"`
}

func (f *rsvpFix) state(t *testing.T) rsvpState {
	t.Helper()
	var s rsvpState
	if err := f.db.Get(&s, `SELECT
		coalesce((SELECT string_agg(alumni_id || ':' || answer || ':' || waitlisted || ':' || answered_at, ',' ORDER BY alumni_id) FROM rsvps), '') AS rows,
		(SELECT count(*) FROM deliveries WHERE notice IS NOT NULL) AS notices`); err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *rsvpFix) row(t *testing.T, i int) (rsvpRow, bool) {
	t.Helper()
	var r rsvpRow
	err := f.db.Get(&r, `SELECT answer, waitlisted FROM rsvps WHERE alumni_id = $1`, f.alumni[i])
	return r, err == nil
}

func (f *rsvpFix) counted(answer string) float64 {
	n, _ := testutil.GatherAndCount(f.metrics.Registry(), metrics.RSVPs)
	if n == 0 {
		return 0
	}
	fams, _ := f.metrics.Registry().Gather()
	for _, fam := range fams {
		if fam.GetName() != metrics.RSVPs {
			continue
		}
		for _, m := range fam.GetMetric() {
			if m.GetLabel()[0].GetValue() == answer {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// checkPage: a 200 HTML page for one person, never cached, under the
// server's CSP, and nothing in it that the CSP would block or that reaches
// outside (no script, inline style, handler attribute, external asset).
func checkPage(t *testing.T, a unsubAnswer, code int) {
	t.Helper()
	if a.code != code {
		t.Fatalf("answer %d, want %d:\n%s", a.code, code, a.body)
	}
	if ct := a.h.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := a.h.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	csp := a.h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "style-src 'self'", "form-action 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "script-src") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q allows script or inline content", csp)
	}
	checkCSPClean(t, a.body)
}

var (
	onAttr    = regexp.MustCompile(`(?i)\son[a-z]+\s*=`)
	assetRefs = regexp.MustCompile(`(?i)<(?:link|img|iframe|object|embed|source)\b[^>]*\b(?:href|src)="([^"]*)"`)
	formRefs  = regexp.MustCompile(`(?i)<form\b[^>]*\baction="([^"]*)"`)
)

// checkCSPClean fails on anything in body that the server's CSP would
// block: script, inline styles, event-handler attributes, javascript:
// URLs, assets or form targets on another origin.
func checkCSPClean(t *testing.T, body string) {
	t.Helper()
	low := strings.ToLower(body)
	for _, bad := range []string{"<script", "<style", " style=", "javascript:", "<iframe", "<object"} {
		if strings.Contains(low, bad) {
			t.Errorf("the page contains %q", bad)
		}
	}
	if m := onAttr.FindString(body); m != "" {
		t.Errorf("the page has an event-handler attribute %q", m)
	}
	for _, m := range assetRefs.FindAllStringSubmatch(body, -1) {
		if !strings.HasPrefix(m[1], "/") || strings.HasPrefix(m[1], "//") {
			t.Errorf("the page loads %q from elsewhere", m[1])
		}
	}
	for _, m := range formRefs.FindAllStringSubmatch(body, -1) {
		if !strings.HasPrefix(m[1], "/") || strings.HasPrefix(m[1], "//") {
			t.Errorf("a form posts to %q", m[1])
		}
	}
}

// checked is the answer the page preselects ("" for none).
func checked(body string) string {
	m := regexp.MustCompile(`name="a" value="(\w+)"[^>]*\bchecked\b`).FindAllStringSubmatch(body, -1)
	if len(m) != 1 {
		return strings.Repeat("?", len(m)) // none, or several
	}
	return m[0][1]
}

func TestRSVPPageShowsTheEventInJapaneseAndChangesNothing(t *testing.T) {
	t.Parallel()
	f := newRSVPFix(t, 0)
	before := f.state(t)
	tok := f.tok(0)
	a := f.get(t, "/r/"+tok+"?a=yes")
	checkPage(t, a, http.StatusOK)
	for _, want := range []string{
		`<html lang="ja">`, "年末アルムナイ交流会", "山田 花子 様",
		"2030年12月20日(金) 19:00 〜 21:00", // in Tokyo: no zone named
		"東京都渋谷区神南1-2-3 Example本社 10F ラウンジ",
		`href="https://example.co.jp/events/2030"`,
		`href="/r/` + tok + `/event.ics"`, "カレンダーに追加", "Apple・Outlook など（.ics）",
		`href="https://calendar.google.com/calendar/render?`, "Googleカレンダー",
		"回答期限: 2030年12月13日(金) 23:59", "期限までは何度でも変更できます。", "ご出欠",
		`action="/r/` + tok + `"`, "出席する", "未定", "欠席する", "回答を送信する",
		`id="current">未回答<`,
		"Example株式会社", "東京都渋谷区神南1-2-3", "03-1234-5678", `href="/static/kizuna.css"`,
	} {
		if !strings.Contains(a.body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if got := checked(a.body); got != "yes" {
		t.Errorf("preselected %q, want yes", got)
	}
	if mapURL := "https://www.google.com/maps/search/?api=1&query=" + url.QueryEscape("東京都渋谷区神南1-2-3 Example本社 10F ラウンジ"); !strings.Contains(html.UnescapeString(a.body), `href="`+mapURL+`"`) {
		t.Errorf("the page has no map link %s", mapURL)
	}
	if strings.Contains(a.body, `id="done"`) || strings.Contains(a.body, `id="closed"`) {
		t.Error("a first visit shows a thank-you or a closed notice")
	}
	// Every preselection, and none for a value the form does not offer.
	for q, want := range map[string]string{"?a=no": "no", "?a=maybe": "maybe", "?a=sometimes": "", "?a=": "", "": ""} {
		if got := checked(f.get(t, "/r/"+tok+q).body); got != want {
			t.Errorf("%q preselects %q, want %q", q, got, want)
		}
	}
	// HEAD and repeated GETs (scanners) change nothing either.
	f.do(t, "HEAD", "/r/"+tok+"?a=yes", nil)
	if after := f.state(t); after != before {
		t.Errorf("GET changed the database: %+v → %+v", before, after)
	}
	if n := f.counted("yes"); n != 0 {
		t.Errorf("a GET counted %v answers", n)
	}
	// The Google Calendar link carries the event in UTC.
	m := regexp.MustCompile(`href="(https://calendar\.google\.com/[^"]+)"`).FindStringSubmatch(a.body)
	if m == nil {
		t.Fatal("no Google Calendar link")
	}
	g, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	q := g.Query()
	if q.Get("action") != "TEMPLATE" || q.Get("text") != "年末アルムナイ交流会" || q.Get("dates") != "20301220T100000Z/20301220T120000Z" ||
		q.Get("location") != "東京都渋谷区神南1-2-3 Example本社 10F ラウンジ" || q.Get("ctz") != "Asia/Tokyo" ||
		!strings.Contains(q.Get("details"), "https://example.co.jp/events/2030") {
		t.Errorf("Google Calendar link %v", q)
	}
}

func TestRSVPPageIsInEnglishInTheReadersZone(t *testing.T) {
	t.Parallel()
	f := newRSVPFix(t, 0)
	a := f.get(t, "/r/"+f.tok(1)+"?a=maybe")
	checkPage(t, a, http.StatusOK)
	for _, want := range []string{
		`<html lang="en">`, "Invitation for John Smith", "When", "Where", "Details",
		"Fri, 20 Dec 2030, 02:00 – 04:00 PST",                    // Los Angeles
		"Time at the venue: Fri, 20 Dec 2030, 19:00 – 21:00 JST", // and Tokyo
		"Please reply by Fri, 13 Dec 2030, 06:59 PST.",           // rsvp deadline 23:59 JST, in Los Angeles
		"Add to your calendar", "Apple, Outlook… (.ics)", "Google Calendar", "Will you join us?", "Send my answer", "Not answered yet",
		`hreflang="ja"`,
	} {
		if !strings.Contains(a.body, want) {
			t.Errorf("the English page lacks %q", want)
		}
	}
	if got := checked(a.body); got != "maybe" {
		t.Errorf("preselected %q, want maybe", got)
	}
	if !strings.Contains(a.body, "ctz=America%2FLos_Angeles") {
		t.Error("the Google Calendar link does not show the reader's zone")
	}
	// ?lang= switches, and keeps the preselection.
	ja := f.get(t, "/r/"+f.tok(1)+"?a=maybe&lang=ja")
	for _, want := range []string{`<html lang="ja">`, "2030年12月20日(金) 02:00 〜 04:00 PST", "開催地の時刻: 2030年12月20日(金) 19:00 〜 21:00 JST"} {
		if !strings.Contains(ja.body, want) {
			t.Errorf("?lang=ja lacks %q", want)
		}
	}
	if got := checked(ja.body); got != "maybe" {
		t.Errorf("?lang=ja preselected %q, want maybe", got)
	}
	if !strings.Contains(a.body, `href="?a=maybe&amp;lang=ja"`) {
		t.Error("the language link drops the preselected answer")
	}
}

func TestRSVPPostRecordsAndRedirectsToTheThankYou(t *testing.T) {
	t.Parallel()
	f := newRSVPFix(t, 0)
	tok := f.tok(0)
	a := f.answer(t, 0, "yes")
	if a.code != http.StatusSeeOther {
		t.Fatalf("POST: %d, want 303\n%s", a.code, a.body)
	}
	loc := a.h.Get("Location")
	if loc != "/r/"+tok+"?done=1&lang=ja" {
		t.Errorf("Location %q", loc)
	}
	if r, ok := f.row(t, 0); !ok || r.Answer != "yes" || r.Waitlisted {
		t.Errorf("after yes: %+v (%v)", r, ok)
	}
	var notice string
	f.db.Get(&notice, `SELECT notice FROM deliveries WHERE alumni_id = $1 AND notice IS NOT NULL`, f.alumni[0])
	if notice != runs.NoticeConfirmYes {
		t.Errorf("notice %q queued, want %s", notice, runs.NoticeConfirmYes)
	}
	done := f.get(t, loc)
	checkPage(t, done, http.StatusOK)
	for _, want := range []string{`id="done"`, "ご出席を承りました", "確認のメールをお送りします", `id="current">出席<`, "ご回答の変更"} {
		if !strings.Contains(done.body, want) {
			t.Errorf("the thank-you page lacks %q", want)
		}
	}
	if got := checked(done.body); got != "yes" {
		t.Errorf("the thank-you page preselects %q, want the current answer yes", got)
	}
	if n := f.counted("yes"); n != 1 {
		t.Errorf("%s{answer=yes} = %v, want 1", metrics.RSVPs, n)
	}

	// The same answer again changes nothing and promises no mail.
	before := f.state(t)
	again := f.answer(t, 0, "yes")
	if again.code != http.StatusSeeOther || again.h.Get("Location") != "/r/"+tok+"?done=same&lang=ja" {
		t.Errorf("the same answer again: %d %q", again.code, again.h.Get("Location"))
	}
	if after := f.state(t); after != before {
		t.Errorf("the same answer again changed the database: %+v → %+v", before, after)
	}
	same := f.get(t, again.h.Get("Location"))
	if !strings.Contains(same.body, "ご出席を承りました") || strings.Contains(same.body, "確認のメールをお送りします") {
		t.Errorf("the page after an unchanged answer:\n%s", same.body)
	}
	if n := f.counted("yes"); n != 1 {
		t.Errorf("an unchanged answer was counted: %v", n)
	}

	// A change of mind is recorded; the page then preselects it.
	if a := f.answer(t, 0, "no"); a.code != http.StatusSeeOther {
		t.Fatalf("no: %d", a.code)
	}
	if r, _ := f.row(t, 0); r.Answer != "no" {
		t.Errorf("after no: %+v", r)
	}
	page := f.get(t, "/r/"+tok)
	if got := checked(page.body); got != "no" || !strings.Contains(page.body, `id="current">欠席<`) {
		t.Errorf("the page after no preselects %q", got)
	}
	if n := f.counted("no"); n != 1 {
		t.Errorf("%s{answer=no} = %v, want 1", metrics.RSVPs, n)
	}
	// English works the same.
	en := f.do(t, "POST", "/r/"+f.tok(1), url.Values{"a": {"maybe"}})
	if en.code != http.StatusSeeOther || !strings.HasSuffix(en.h.Get("Location"), "lang=en") {
		t.Errorf("English POST: %d %q", en.code, en.h.Get("Location"))
	}
	if p := f.get(t, en.h.Get("Location")); !strings.Contains(p.body, `we noted your &#34;maybe&#34;`) {
		t.Errorf("the English thank-you for maybe:\n%s", p.body)
	}
}

func TestRSVPYesPastCapacityShowsTheWaitingListPosition(t *testing.T) {
	t.Parallel()
	f := newRSVPFix(t, 1)
	f.answer(t, 0, "yes")
	a := f.answer(t, 3, "yes")
	if a.code != http.StatusSeeOther {
		t.Fatalf("POST: %d", a.code)
	}
	if r, _ := f.row(t, 3); r.Answer != "yes" || !r.Waitlisted {
		t.Errorf("the second yes with one place: %+v, want waitlisted", r)
	}
	done := f.get(t, a.h.Get("Location"))
	for _, want := range []string{"キャンセル待ち（1番目）で承りました", `id="current">キャンセル待ち（1番目）<`} {
		if !strings.Contains(done.body, want) {
			t.Errorf("the waiting-list page lacks %q", want)
		}
	}
	// The guest says no: the first on the list is promoted, and their page
	// shows it.
	f.answer(t, 0, "no")
	if r, _ := f.row(t, 3); r.Answer != "yes" || r.Waitlisted {
		t.Errorf("after the guest's no: %+v, want promoted", r)
	}
	if p := f.get(t, "/r/"+f.tok(3)); !strings.Contains(p.body, `id="current">出席<`) {
		t.Error("the promoted person's page does not say they attend")
	}
}

func TestRSVPAfterTheDeadlineIsA409AndChangesNothing(t *testing.T) {
	t.Parallel()
	f := newRSVPFix(t, 0)
	f.answer(t, 0, "yes")
	f.now.Store(rsvpDeadline.UnixNano()) // an answer at the deadline itself is late
	before := f.state(t)

	page := f.get(t, "/r/"+f.tok(0)+"?a=no")
	checkPage(t, page, http.StatusOK)
	if strings.Contains(page.body, "<form") || !strings.Contains(page.body, "回答の受付は締め切りました（2030年12月13日(金) 23:59）") ||
		!strings.Contains(page.body, `id="current">出席<`) {
		t.Errorf("the page after the deadline:\n%s", page.body)
	}
	a := f.answer(t, 0, "no")
	checkPage(t, a, http.StatusConflict)
	for _, want := range []string{"回答の受付は締め切りました", "ご回答は変更していません", `href="/r/` + f.tok(0) + `?lang=ja"`} {
		if !strings.Contains(a.body, want) {
			t.Errorf("the 409 page lacks %q", want)
		}
	}
	if en := f.answer(t, 1, "yes"); en.code != http.StatusConflict || !strings.Contains(en.body, "your answer was not changed") {
		t.Errorf("English after the deadline: %d\n%s", en.code, en.body)
	}
	if after := f.state(t); after != before {
		t.Errorf("an answer after the deadline changed the database: %+v → %+v", before, after)
	}
}

func TestRSVPForACancelledEventShowsNoFormAndNoCalendarLinks(t *testing.T) {
	t.Parallel()
	f := newRSVPFix(t, 0)
	f.answer(t, 0, "yes")
	c := rsvpCampaign(0, "digest-rsvp-cancelled")
	c.Event.Cancelled = true
	c.Event.Sequence = 2
	if _, err := runs.RegisterVersion(t.Context(), f.db.DB, c); err != nil {
		t.Fatal(err)
	}
	before := f.state(t)
	page := f.get(t, "/r/"+f.tok(0)+"?a=no")
	checkPage(t, page, http.StatusOK)
	if strings.Contains(page.body, "<form") || strings.Contains(page.body, "event.ics") || strings.Contains(page.body, "calendar.google.com") ||
		!strings.Contains(page.body, "このイベントは中止になりました") {
		t.Errorf("the page of a cancelled event:\n%s", page.body)
	}
	a := f.answer(t, 0, "no")
	checkPage(t, a, http.StatusConflict)
	if !strings.Contains(a.body, "イベントが中止になったため、ご回答は変更していません") {
		t.Errorf("the 409 page of a cancelled event:\n%s", a.body)
	}
	// A calendar that saved the event learns it is cancelled.
	if cal := f.get(t, "/r/"+f.tok(0)+"/event.ics"); cal.code != http.StatusOK || !strings.Contains(cal.body, "STATUS:CANCELLED\r\n") ||
		!strings.Contains(cal.body, "METHOD:PUBLISH\r\n") || !strings.Contains(cal.body, "SEQUENCE:1\r\n") {
		t.Errorf("the .ics of a cancelled event: %d\n%s", cal.code, cal.body)
	}
	if after := f.state(t); after != before {
		t.Errorf("an answer to a cancelled event changed the database: %+v → %+v", before, after)
	}
}

func TestRSVPBadAnswerIsA400AndChangesNothing(t *testing.T) {
	t.Parallel()
	f := newRSVPFix(t, 0)
	before := f.state(t)
	for _, form := range []url.Values{{"a": {"sometimes"}}, {"a": {""}}, {}, {"a": {"YES"}}} {
		a := f.do(t, "POST", "/r/"+f.tok(0), form)
		checkPage(t, a, http.StatusBadRequest)
		if !strings.Contains(a.body, "ご回答を確認してください") || !strings.Contains(a.body, "何も変更していません") {
			t.Errorf("%v: the 400 page:\n%s", form, a.body)
		}
	}
	if after := f.state(t); after != before {
		t.Errorf("a bad answer changed the database: %+v → %+v", before, after)
	}
}

func TestRSVPForgedTokensGetThe404PageAndChangeNothing(t *testing.T) {
	t.Parallel()
	f := newRSVPFix(t, 0)
	good := f.tok(0)
	altered := []byte(good)
	altered[len(altered)/2] ^= 1
	if altered[len(altered)/2] == '_' || altered[len(altered)/2] == '-' {
		altered[len(altered)/2] = 'A'
	}
	other := token.New([]byte("another secret, another server..")).Sign(token.Claims{Purpose: token.RSVP, DeliveryID: f.dels[0]})
	unsub := f.signer.Sign(token.Claims{Purpose: token.Unsubscribe, DeliveryID: f.dels[0]})
	missing := f.signer.Sign(token.Claims{Purpose: token.RSVP, DeliveryID: f.news + 1000})
	newsletter := f.signer.Sign(token.Claims{Purpose: token.RSVP, DeliveryID: f.news}) // genuine, not an event
	forgotten := f.tok(2)
	before := f.state(t)
	for _, tok := range []string{string(altered), other, unsub, missing, newsletter, forgotten, "x", strings.Repeat("A", 5000)} {
		p := "/r/" + url.PathEscape(tok)
		for _, a := range []unsubAnswer{
			f.get(t, p+"?a=yes"),
			f.do(t, "POST", p, url.Values{"a": {"yes"}}),
			f.get(t, p+"/event.ics"),
		} {
			if a.code != http.StatusNotFound || !strings.Contains(a.body, "ページが見つかりません") || !strings.Contains(a.body, "Page not found") {
				t.Errorf("token %.20q…: %d, want the 404 page", tok, a.code)
			}
		}
	}
	// A test copy's genuine link (no delivery) says so and records nothing.
	preview := f.signer.Sign(token.Claims{Purpose: token.RSVP})
	for _, a := range []unsubAnswer{f.get(t, "/r/"+preview+"?a=yes"), f.do(t, "POST", "/r/"+preview, url.Values{"a": {"yes"}})} {
		if a.code != http.StatusOK || !strings.Contains(a.body, "テスト送信") || strings.Contains(a.body, "<form") {
			t.Errorf("a test copy's link: %d\n%s", a.code, a.body)
		}
	}
	if after := f.state(t); after != before {
		t.Errorf("a forged token changed the database: %+v → %+v", before, after)
	}
}

// Cross-origin browser posts are refused as on /u/ (the middleware's
// CrossOriginProtection); a post without browser provenance headers, or
// from the page itself, is not.
func TestRSVPCrossOriginPostIsRefused(t *testing.T) {
	t.Parallel()
	f := newRSVPFix(t, 0)
	before := f.state(t)
	for _, h := range [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Origin", "https://evil.example"},
	} {
		a := f.do(t, "POST", "/r/"+f.tok(0), url.Values{"a": {"yes"}}, h...)
		if a.code != http.StatusForbidden {
			t.Errorf("%v: %d, want 403", h, a.code)
		}
		u := f.do(t, "POST", "/u/"+f.tok(0), url.Values{"from": {"page"}}, h...)
		if u.code != a.code {
			t.Errorf("%v: /u/ answers %d, /r/ %d: not consistent", h, u.code, a.code)
		}
	}
	if after := f.state(t); after != before {
		t.Errorf("a cross-origin post changed the database: %+v → %+v", before, after)
	}
	if a := f.do(t, "POST", "/r/"+f.tok(0), url.Values{"a": {"yes"}}, "Sec-Fetch-Site", "same-origin"); a.code != http.StatusSeeOther {
		t.Errorf("a same-origin post: %d, want 303", a.code)
	}
}

func TestRSVPCalendarDownloadParsesBack(t *testing.T) {
	t.Parallel()
	f := newRSVPFix(t, 0)
	before := f.state(t)
	a := f.get(t, "/r/"+f.tok(1)+"/event.ics")
	if a.code != http.StatusOK {
		t.Fatalf("event.ics: %d\n%s", a.code, a.body)
	}
	if ct := a.h.Get("Content-Type"); ct != "text/calendar; charset=utf-8; method=PUBLISH" {
		t.Errorf("Content-Type %q", ct)
	}
	if cd := a.h.Get("Content-Disposition"); cd != `attachment; filename=year-end.ics` {
		t.Errorf("Content-Disposition %q", cd)
	}
	if a.h.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", a.h.Get("Cache-Control"))
	}
	for _, l := range strings.SplitAfter(a.body, "\r\n") {
		if len(strings.TrimSuffix(l, "\r\n")) > 75 || (l != "" && !strings.HasSuffix(l, "\r\n")) {
			t.Errorf("line %q is not folded at 75 octets with CRLF (RFC 5545 §3.1)", l)
		}
	}
	cal, err := ics.ParseCalendar(strings.NewReader(a.body))
	if err != nil {
		t.Fatal(err)
	}
	method := ""
	for _, p := range cal.CalendarProperties {
		if p.IANAToken == "METHOD" {
			method = p.Value
		}
	}
	if method != "PUBLISH" {
		t.Errorf("METHOD %q, want PUBLISH", method)
	}
	evs := cal.Events()
	if len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	e := evs[0]
	prop := func(p ics.ComponentProperty) string {
		if v := e.GetProperty(p); v != nil {
			return v.Value
		}
		return ""
	}
	start, err1 := e.GetStartAt()
	end, err2 := e.GetEndAt()
	if err1 != nil || err2 != nil || !start.Equal(rsvpStart) || !end.Equal(rsvpEnd) {
		t.Errorf("DTSTART %v DTEND %v (%v %v), want %v–%v", start, end, err1, err2, rsvpStart, rsvpEnd)
	}
	for p, want := range map[ics.ComponentProperty]string{
		ics.ComponentPropertyUniqueId: "year-end@example.co.jp", // the invitation's UID
		ics.ComponentPropertySequence: "0",                      // the first version's (RegisterVersion numbers them)
		ics.ComponentPropertySummary:  "年末アルムナイ交流会",
		ics.ComponentPropertyLocation: "東京都渋谷区神南1-2-3 Example本社 10F ラウンジ",
		ics.ComponentPropertyUrl:      "https://example.co.jp/events/2030",
		ics.ComponentPropertyStatus:   "CONFIRMED",
	} {
		if got := prop(p); got != want {
			t.Errorf("%s = %q, want %q", p, got, want)
		}
	}
	if org := prop(ics.ComponentPropertyOrganizer); org != "mailto:alumni@example.co.jp" {
		t.Errorf("ORGANIZER %q", org)
	}
	if st, err := e.GetDtStampTime(); err != nil || !st.Equal(rsvpBefore) {
		t.Errorf("DTSTAMP %v (%v), want the server's clock", st, err)
	}
	if e.GetProperty(ics.ComponentPropertyAttendee) != nil {
		t.Error("a PUBLISH object names an ATTENDEE")
	}
	if after := f.state(t); after != before {
		t.Errorf("the download changed the database")
	}
}
