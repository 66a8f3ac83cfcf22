package web_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
	"github.com/kizuna-alumni/kizuna/internal/token"
	"github.com/kizuna-alumni/kizuna/internal/web"
)

const unsubSecret = "0123456789abcdef0123456789abcdef-unsub-test"

// unsubFix is a database with one sent run of a newsletter to three
// people (ja, en, forgotten) and a web server in front of it.
type unsubFix struct {
	db     *testdb.DB
	srv    *httptest.Server
	signer *token.Signer
	run    runs.Run
	alumni []int64 // ja, en, forgotten
	dels   []int64 // their deliveries, same order
}

func unsubCampaign() *campaigns.Campaign {
	return &campaigns.Campaign{
		ID: "news", Kind: campaigns.KindNewsletter,
		Company: campaigns.Company{Name: "Example株式会社", Address: "東京都渋谷区神南1-2-3",
			Contact: "alumni@example.co.jp / 03-1234-5678", URL: "https://example.co.jp"},
		From: "Example株式会社 人事部 <alumni@example.co.jp>", ReplyTo: "alumni@example.co.jp",
		Subject:  map[string]string{"ja": "アルムナイ通信", "en": "Alumni news"},
		Audience: campaigns.Audience{Locales: []string{"ja", "en"}, Consent: "required"},
		Template: campaigns.Template{Theme: "default", Body: map[string]campaigns.Body{
			"ja": {Intros: []string{"こんにちは。"}}, "en": {Intros: []string{"Hello."}}}},
		Digest: "digest-unsub",
	}
}

func newUnsubFix(t *testing.T) *unsubFix {
	t.Helper()
	db := testdb.New(t)
	f := &unsubFix{db: db, signer: token.New([]byte(unsubSecret))}
	f.alumni = testdb.Alumni(t, db,
		testdb.Alumnus{Email: "hanako@example.jp", FamilyName: "山田", Locale: "ja", Consent: true},
		testdb.Alumnus{Email: "john@example.com", GivenName: "John", Locale: "en", Consent: true},
		testdb.Alumnus{Status: "forgotten"},
	)
	v, err := runs.RegisterVersion(t.Context(), db.DB, unsubCampaign())
	if err != nil {
		t.Fatal(err)
	}
	if f.run, _, err = runs.Create(t.Context(), db.DB, v, "o1", runs.KindSend); err != nil {
		t.Fatal(err)
	}
	f.dels = testdb.Deliveries(t, db, testdb.DeliveriesOpts{Run: f.run.ID, Alumni: f.alumni, State: "sent"})
	s, err := web.New(web.Options{DB: db.DB, Signer: f.signer, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(s.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

// tok is the unsubscribe token of delivery i.
func (f *unsubFix) tok(i int) string {
	return f.signer.Sign(token.Claims{Purpose: token.Unsubscribe, DeliveryID: f.dels[i]})
}

// unsubClient never follows a redirect: one would fail the test.
var unsubClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
	return errors.New("redirected")
}}

type unsubAnswer struct {
	code int
	h    http.Header
	body string
}

func (f *unsubFix) do(t *testing.T, method, path, ctype string, body io.Reader) unsubAnswer {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := unsubClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return unsubAnswer{res.StatusCode, res.Header, string(b)}
}

// oneClick posts the RFC 8058 body, urlencoded.
func (f *unsubFix) oneClick(t *testing.T, tok string) unsubAnswer {
	t.Helper()
	return f.do(t, "POST", "/u/"+tok, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
}

// state is what an unsubscribe may change.
type unsubState struct {
	Status       string `db:"status"`
	MailKinds    string `db:"mail_kinds"`
	Locale       string `db:"locale"`
	Suppressions int    `db:"suppressions"`
	Events       int    `db:"events"`
}

func (f *unsubFix) state(t *testing.T, i int) unsubState {
	t.Helper()
	var s unsubState
	err := f.db.Get(&s, `SELECT a.status, a.mail_kinds, a.locale,
		(SELECT count(*) FROM suppressions) AS suppressions,
		(SELECT count(*) FROM delivery_events WHERE delivery_id = $2 AND kind = 'unsubscribe') AS events
		FROM alumni a WHERE a.id = $1`, f.alumni[i], f.dels[i])
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *unsubFix) unsubscribedCount(t *testing.T) int64 {
	t.Helper()
	st, err := runs.Status(t.Context(), f.db.DB, "news")
	if err != nil || len(st) != 1 {
		t.Fatalf("status: %v %v", st, err)
	}
	return st[0].Unsubscribed
}

// checkUnsubscribed: status unsubscribed, the address suppressed, one
// event on the delivery, counted by the run and in the person's history.
func (f *unsubFix) checkUnsubscribed(t *testing.T, i int, via string) {
	t.Helper()
	s := f.state(t, i)
	if s.Status != "unsubscribed" || s.Suppressions != 1 || s.Events != 1 {
		t.Errorf("after unsubscribe: %+v, want status unsubscribed, 1 suppression, 1 event", s)
	}
	var reason, gotVia string
	f.db.Get(&reason, `SELECT reason FROM suppressions`)
	f.db.Get(&gotVia, `SELECT detail->>'via' FROM delivery_events WHERE delivery_id = $1`, f.dels[i])
	if reason != "unsubscribed" || gotVia != via {
		t.Errorf("suppression reason %q, event via %q; want unsubscribed, %q", reason, gotVia, via)
	}
	if n := f.unsubscribedCount(t); n != 1 {
		t.Errorf("the run's unsubscribed count is %d, want 1", n)
	}
	h, err := runs.History(t.Context(), f.db.DB, f.alumni[i])
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range h {
		found = found || (e.Type == "unsubscribe" && e.CampaignID == "news")
	}
	if !found {
		t.Errorf("the person's history has no unsubscribe: %+v", h)
	}
}

func checkDonePage(t *testing.T, a unsubAnswer, want string) {
	t.Helper()
	if a.code != http.StatusOK {
		t.Fatalf("answer %d, want 200: %s", a.code, a.body)
	}
	if loc := a.h.Get("Location"); loc != "" {
		t.Errorf("Location %q: the one-click answer never redirects", loc)
	}
	if !strings.Contains(a.body, want) {
		t.Errorf("the done page does not say %q:\n%s", want, a.body)
	}
	if a.h.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", a.h.Get("Cache-Control"))
	}
}

func TestOneClickURLEncodedUnsubscribes(t *testing.T) {
	t.Parallel()
	f := newUnsubFix(t)
	checkDonePage(t, f.oneClick(t, f.tok(0)), "配信を停止しました")
	f.checkUnsubscribed(t, 0, runs.UnsubscribeOneClick)
	if s := f.state(t, 1); s.Status != "active" {
		t.Errorf("another person changed: %+v", s)
	}
}

func TestOneClickMultipartUnsubscribes(t *testing.T) {
	t.Parallel()
	f := newUnsubFix(t)
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("List-Unsubscribe", "One-Click")
	mw.Close()
	checkDonePage(t, f.do(t, "POST", "/u/"+f.tok(1), mw.FormDataContentType(), &b), "You are unsubscribed")
	f.checkUnsubscribed(t, 1, runs.UnsubscribeOneClick)
}

func TestUnsubscribeIsIdempotent(t *testing.T) {
	t.Parallel()
	f := newUnsubFix(t)
	checkDonePage(t, f.oneClick(t, f.tok(0)), "配信を停止しました")
	checkDonePage(t, f.oneClick(t, f.tok(0)), "配信を停止しました")
	// Mail providers may retry at once: concurrent posts record one event.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.do(t, "POST", "/u/"+f.tok(0), "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
		}()
	}
	wg.Wait()
	f.checkUnsubscribed(t, 0, runs.UnsubscribeOneClick)
}

func TestUnsubscribePageChangesNothing(t *testing.T) {
	t.Parallel()
	f := newUnsubFix(t)
	before := f.state(t, 0)
	a := f.do(t, "GET", "/u/"+f.tok(0), "", nil)
	if a.code != http.StatusOK || a.h.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET: %d, Cache-Control %q", a.code, a.h.Get("Cache-Control"))
	}
	for _, want := range []string{`<html lang="ja">`, "配信を停止する", `action="/u/` + f.tok(0) + `"`,
		`action="/u/` + f.tok(0) + `/preferences"`, "Example株式会社", "東京都渋谷区神南1-2-3", "03-1234-5678",
		`value="all" checked`, `value="ja" checked`, `href="/static/kizuna.css"`} {
		if !strings.Contains(a.body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	// Exactly one button unsubscribes: the form posting to /u/TOKEN.
	if n := strings.Count(a.body, `action="/u/`+f.tok(0)+`"`); n != 1 {
		t.Errorf("%d forms unsubscribe, want 1", n)
	}
	for _, bad := range []string{"<script", "http://", "style="} {
		if strings.Contains(a.body, bad) {
			t.Errorf("the page contains %q (no script, external assets or inline style)", bad)
		}
	}
	if after := f.state(t, 0); after != before {
		t.Errorf("GET changed the database: %+v → %+v", before, after)
	}
	if n := f.unsubscribedCount(t); n != 0 {
		t.Errorf("unsubscribed count %d after a GET", n)
	}
	// In the alumnus's language, or the one asked for.
	if en := f.do(t, "GET", "/u/"+f.tok(1), "", nil); !strings.Contains(en.body, `<html lang="en">`) || !strings.Contains(en.body, "Unsubscribe") {
		t.Errorf("an English speaker's page is not in English:\n%s", en.body)
	}
	if en := f.do(t, "GET", "/u/"+f.tok(0)+"?lang=en", "", nil); !strings.Contains(en.body, "Email preferences") {
		t.Errorf("?lang=en is not in English")
	}
}

func TestForgedTokensGetThe404PageAndChangeNothing(t *testing.T) {
	t.Parallel()
	f := newUnsubFix(t)
	good := f.tok(0)
	altered := []byte(good)
	altered[len(altered)/2] ^= 1
	if altered[len(altered)/2] == '_' || altered[len(altered)/2] == '-' {
		altered[len(altered)/2] = 'A'
	}
	other := token.New([]byte("another secret, another server..")).Sign(token.Claims{Purpose: token.Unsubscribe, DeliveryID: f.dels[0]})
	open := f.signer.Sign(token.Claims{Purpose: token.Open, DeliveryID: f.dels[0]})
	missing := f.signer.Sign(token.Claims{Purpose: token.Unsubscribe, DeliveryID: f.dels[2] + 1000})
	preview := f.signer.Sign(token.Claims{Purpose: token.Unsubscribe})
	for _, tok := range []string{string(altered), other, open, missing, "x", strings.Repeat("A", 5000)} {
		for _, a := range []unsubAnswer{
			f.do(t, "GET", "/u/"+url.PathEscape(tok), "", nil),
			f.oneClick(t, url.PathEscape(tok)),
			f.do(t, "POST", "/u/"+url.PathEscape(tok)+"/preferences", "application/x-www-form-urlencoded", strings.NewReader("kinds=event&locale=en")),
		} {
			if a.code != http.StatusNotFound || !strings.Contains(a.body, "ページが見つかりません") || !strings.Contains(a.body, "Page not found") {
				t.Errorf("token %.20q…: %d, want the 404 page", tok, a.code)
			}
		}
	}
	// A test copy's or preview's genuine link (no delivery) says so, in
	// both methods, and changes nothing.
	for _, a := range []unsubAnswer{
		f.do(t, "GET", "/u/"+preview, "", nil),
		f.oneClick(t, preview),
		f.do(t, "POST", "/u/"+preview+"/preferences", "application/x-www-form-urlencoded", strings.NewReader("kinds=event&locale=en")),
	} {
		if a.code != http.StatusOK || !strings.Contains(a.body, "テスト送信") {
			t.Errorf("a test copy's link: %d, want the test-copy page\n%s", a.code, a.body)
		}
	}
	if s := f.state(t, 0); s.Status != "active" || s.Suppressions != 0 || s.Events != 0 || s.MailKinds != "all" || s.Locale != "ja" {
		t.Errorf("a forged token changed something: %+v", s)
	}
}

func TestAForgottenPersonIsNotRecordedAgain(t *testing.T) {
	t.Parallel()
	f := newUnsubFix(t)
	// A forget request already erased them and suppressed the address
	// hash; nothing new about them is stored.
	page := f.do(t, "GET", "/u/"+f.tok(2), "", nil)
	if page.code != http.StatusOK || strings.Contains(page.body, "<form") {
		t.Errorf("a forgotten person's page: %d, with a form: %v", page.code, strings.Contains(page.body, "<form"))
	}
	checkDonePage(t, f.oneClick(t, f.tok(2)), "配信は停止しています")
	checkDonePage(t, f.do(t, "POST", "/u/"+f.tok(2)+"/preferences", "application/x-www-form-urlencoded",
		strings.NewReader("kinds=all&locale=en")), "Email has stopped")
	if s := f.state(t, 2); s.Status != "forgotten" || s.Events != 0 || s.Suppressions != 0 || s.Locale != "ja" {
		t.Errorf("the forgotten person's record changed: %+v", s)
	}
}

func TestPreferencesAreSavedAndShown(t *testing.T) {
	t.Parallel()
	f := newUnsubFix(t)
	a := f.do(t, "POST", "/u/"+f.tok(0)+"/preferences", "application/x-www-form-urlencoded",
		strings.NewReader("kinds=newsletter&locale=en"))
	checkDonePage(t, a, "Preferences saved")
	if !strings.Contains(a.body, "alumni newsletters only") {
		t.Errorf("the done page does not say what was saved:\n%s", a.body)
	}
	if s := f.state(t, 0); s.MailKinds != "newsletter" || s.Locale != "en" || s.Status != "active" || s.Events != 0 {
		t.Errorf("after saving: %+v, want newsletter, en, still active, no unsubscribe", s)
	}
	page := f.do(t, "GET", "/u/"+f.tok(0), "", nil)
	for _, want := range []string{`<html lang="en">`, `value="newsletter" checked`, `value="en" checked`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the page after saving lacks %q", want)
		}
	}
	// An unknown choice is refused and changes nothing.
	for _, body := range []string{"kinds=sms&locale=en", "kinds=all&locale=fr"} {
		bad := f.do(t, "POST", "/u/"+f.tok(0)+"/preferences", "application/x-www-form-urlencoded", strings.NewReader(body))
		if bad.code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", body, bad.code)
		}
	}
	if s := f.state(t, 0); s.MailKinds != "newsletter" || s.Locale != "en" {
		t.Errorf("a refused choice changed: %+v", s)
	}
}

func TestStaticAndNotFound(t *testing.T) {
	t.Parallel()
	f := newUnsubFix(t)
	css := f.do(t, "GET", "/static/kizuna.css", "", nil)
	if css.code != 200 || !strings.HasPrefix(css.h.Get("Content-Type"), "text/css") || !strings.Contains(css.body, "max-width") {
		t.Errorf("/static/kizuna.css: %d %q", css.code, css.h.Get("Content-Type"))
	}
	for _, p := range []string{"/static/other.css", "/nothing", "/u/"} {
		a := f.do(t, "GET", p, "", nil)
		if a.code != 404 || !strings.Contains(a.body, "Page not found") || !strings.Contains(a.h.Get("Content-Type"), "text/html") {
			t.Errorf("%s: %d %q, want the 404 page", p, a.code, a.h.Get("Content-Type"))
		}
	}
}
