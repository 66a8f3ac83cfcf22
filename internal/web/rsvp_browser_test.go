package web_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"mime"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	_ "github.com/emersion/go-message/charset"
	gmail "github.com/emersion/go-message/mail"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/smtptest"
	"github.com/kizuna-alumni/kizuna/internal/tasks"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
	"github.com/kizuna-alumni/kizuna/internal/testredis"
	"github.com/kizuna-alumni/kizuna/internal/token"
	"github.com/kizuna-alumni/kizuna/internal/web"
	"github.com/kizuna-alumni/kizuna/worker"
)

// rsvpShot saves a screenshot like unsubShot and, for the README's (docs)
// with KIZUNA_UPDATE_DOCS=1, also as docs/screenshots/NAME.
func rsvpShot(t *testing.T, name string, png []byte, docs bool) {
	t.Helper()
	dir := filepath.Join("testdata", "screenshots")
	if d := os.Getenv("KIZUNA_ARTEFACTS"); d != "" {
		dir = filepath.Join(d, "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
	if docs && os.Getenv("KIZUNA_UPDATE_DOCS") == "1" {
		dir := filepath.Join("..", "..", "docs", "screenshots")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// mailText is the decoded text/plain part of a message the relay got.
func mailText(t *testing.T, m smtptest.Message) string {
	t.Helper()
	mr, err := gmail.CreateReader(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatalf("message to %v does not parse: %v", m.To, err)
	}
	var text string
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return text
		}
		if err != nil {
			t.Fatalf("message to %v: %v", m.To, err)
		}
		body, _ := io.ReadAll(part.Body)
		if h, ok := part.Header.(*gmail.InlineHeader); ok {
			if ct, _, _ := h.ContentType(); ct == "text/plain" {
				text += string(body)
			}
		}
	}
}

var rsvpYesLink = regexp.MustCompile(`(https?://\S+/r/[A-Za-z0-9_-]+\?a=yes)`)

// cspWatch counts, in every document the tab opens, the Content Security
// Policy violations the page causes (the securitypolicyviolation event).
// The DevTools-injected counter itself is not subject to the page's CSP.
const cspWatch = `window.__csp = 0; document.addEventListener('securitypolicyviolation', () => { window.__csp++; });`

// TestBrowserAnswersAnRSVPFromARealInvitation sends a real event
// invitation through a worker to the test relay, opens the "yes" link of
// the received message in headless Chromium at phone width, sends the
// preselected answer, and checks Postgres: the answer is recorded, and
// its confirmation is queued in the campaign's notice run and handed to
// the worker at once (the web server's enqueuer), which sends it in
// Japanese with the event accepted in its calendar object. The page causes
// no CSP violation. Screenshots at 375 px and 1280 px are
// left as artefacts (and in docs/screenshots with KIZUNA_UPDATE_DOCS=1).
func TestBrowserAnswersAnRSVPFromARealInvitation(t *testing.T) {
	browser := unsubChromium(t)
	db := testdb.New(t)
	rd := testredis.New(t)
	relay := smtptest.Start(t)
	ctx := t.Context()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()

	// A worker that sends everything due, throughout the test.
	ropt, err := asynq.ParseRedisURI(rd.URL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := ropt.MakeRedisClient().(redis.UniversalClient)
	t.Cleanup(func() { rdb.Close() }) // after the worker stops (cleanups run last first)
	deps, err := worker.NewDeps(worker.Setup{SMTPURL: relay.URL(), BaseURL: base, Secret: []byte(unsubSecret), Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	w, err := worker.New(worker.Options{DB: db.DB, Redis: rdb, Deps: deps, Concurrency: 2, Lease: 5 * time.Second,
		Log: quiet, ReconcileEvery: time.Hour}) // the reconciler does not help: enqueuing is the server's job
	if err != nil {
		t.Fatal(err)
	}
	wctx, stopWorker := context.WithCancel(context.Background())
	worked := make(chan error, 1)
	go func() { worked <- w.Run(wctx) }()
	t.Cleanup(func() {
		stopWorker()
		if err := <-worked; err != nil {
			t.Errorf("worker: %v", err)
		}
	})

	// The web server, its RSVPs handed to the worker's queue.
	srv, err := web.New(web.Options{DB: db.DB, Signer: token.New([]byte(unsubSecret)), Log: quiet, Enqueue: runs.EnqueueTasks(w.Enqueuer())})
	if err != nil {
		t.Fatal(err)
	}
	srvCtx, stopSrv := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(srvCtx, ln) }()
	t.Cleanup(func() {
		stopSrv()
		if err := <-served; err != nil {
			t.Errorf("web server: %v", err)
		}
	})

	// The invitation: registered, run, expanded and sent.
	ids := testdb.Alumni(t, db,
		testdb.Alumnus{Email: "hanako@example.jp", FamilyName: "山田", GivenName: "花子", Locale: "ja", Consent: true},
		testdb.Alumnus{Email: "john@example.com", FamilyName: "Smith", GivenName: "John", Locale: "en", Timezone: "America/Los_Angeles", Consent: true},
	)
	v, err := runs.RegisterVersion(ctx, db.DB, rsvpCampaign(60, "digest-rsvp-browser"))
	if err != nil {
		t.Fatal(err)
	}
	run, _, err := runs.Create(ctx, db.DB, v, "manual:browser", runs.KindSend)
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(ropt)
	t.Cleanup(func() { client.Close() })
	if _, err := runs.ExpandEach(ctx, db.DB, run.ID, runs.EnqueueTasks(tasks.NewEnqueuer(client))); err != nil {
		t.Fatal(err)
	}
	waitMessages := func(n int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for len(relay.Messages()) < n {
			if time.Now().After(deadline) {
				t.Fatalf("the relay got %d messages, want %d", len(relay.Messages()), n)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitMessages(2)
	links := map[string]string{}
	for _, m := range relay.Messages() {
		if got := rsvpYesLink.FindString(mailText(t, m)); got != "" {
			links[m.To[0]] = got
		}
	}
	ja, en := links["hanako@example.jp"], links["john@example.com"]
	if ja == "" || en == "" {
		t.Fatalf("no RSVP link in the invitations: %v", links)
	}

	if _, err := chromedp.Call(browser, page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: cspWatch}); err != nil {
		t.Fatal(err)
	}
	eval := func(js string) int {
		t.Helper()
		n, err := chromedp.Run(browser, chromedp.Evaluate[int](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return n
	}
	shot := func(name string, docs bool) {
		t.Helper()
		png, err := chromedp.Run(browser, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		rsvpShot(t, name, png, docs)
	}

	// The Japanese page at 375 px, as the "出席する" button of the mail
	// opens it: fits the phone, "yes" preselected, big touch targets.
	if err := chromedp.Do(browser, chromedp.EmulateViewport(375, 812), chromedp.Navigate(ja), chromedp.WaitVisible(chromedp.ID("send"))); err != nil {
		t.Fatalf("open %s: %v", ja, err)
	}
	if n := eval(`document.documentElement.scrollWidth`); n > 375 {
		t.Errorf("the RSVP page is %d px wide at 375 px", n)
	}
	if eval(`document.getElementById('a-yes').checked ? 1 : 0`) != 1 {
		t.Error("the mail's yes link does not preselect yes")
	}
	if h := eval(`Math.min(...[...document.querySelectorAll('label.choice, #send, a.chip')].map(e => e.getBoundingClientRect().height))`); h < 44 {
		t.Errorf("a touch target is %d px high, want at least 44", h)
	}
	if eval(`window.__csp`) != 0 {
		t.Errorf("the page caused %d CSP violations", eval(`window.__csp`))
	}
	title, err := chromedp.Run(browser, chromedp.Text(chromedp.ID("event-title")))
	if err != nil || title != "年末アルムナイ交流会" {
		t.Errorf("the page's title %q (%v)", title, err)
	}
	shot("rsvp-phone.png", true)
	// The same page at desktop width, for the README; then back to the
	// phone to answer.
	if err := chromedp.Do(browser, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}
	shot("rsvp-desktop.png", true)
	if err := chromedp.Do(browser, chromedp.EmulateViewport(375, 812)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(browser, chromedp.Click(chromedp.ID("send")), chromedp.WaitVisible(chromedp.ID("done"))); err != nil {
		t.Fatalf("send the answer: %v", err)
	}
	done, err := chromedp.Run(browser, chromedp.Text(chromedp.ID("done")))
	if err != nil || !regexp.MustCompile(`ご出席を承りました`).MatchString(done) {
		t.Errorf("after sending, the page says %q (%v)", done, err)
	}
	if cur, _ := chromedp.Run(browser, chromedp.Text(chromedp.ID("current"))); cur != "出席" {
		t.Errorf("the current answer reads %q, want 出席", cur)
	}
	if eval(`window.__csp`) != 0 {
		t.Errorf("the thank-you page caused %d CSP violations", eval(`window.__csp`))
	}
	shot("rsvp-done-phone.png", false)

	var got struct {
		Answer     string `db:"answer"`
		Waitlisted bool   `db:"waitlisted"`
		Delivery   int64  `db:"delivery_id"`
	}
	if err := db.Get(&got, `SELECT answer, waitlisted, delivery_id FROM rsvps WHERE alumni_id = $1`, ids[0]); err != nil {
		t.Fatalf("no answer recorded: %v", err)
	}
	var invitation int64
	db.Get(&invitation, `SELECT id FROM deliveries WHERE run_id = $1 AND alumni_id = $2`, run.ID, ids[0])
	if got.Answer != "yes" || got.Waitlisted || got.Delivery != invitation {
		t.Errorf("recorded %+v, want yes on the invitation's delivery %d", got, invitation)
	}
	// The confirmation was handed to the worker by the server (the
	// reconciler is off) and sent.
	var state string
	deadline := time.Now().Add(30 * time.Second)
	for state != "sent" && time.Now().Before(deadline) {
		db.Get(&state, `SELECT d.state FROM deliveries d JOIN runs r ON r.id = d.run_id
			WHERE r.kind = 'notice' AND d.alumni_id = $1 AND d.notice = $2`, ids[0], runs.NoticeConfirmYes)
		time.Sleep(50 * time.Millisecond)
	}
	if state != "sent" {
		t.Errorf("the confirmation's delivery is %q, want sent", state)
	}
	waitMessages(3)
	confirmation := relay.Messages()[2]
	if to := confirmation.To; len(to) != 1 || to[0] != "hanako@example.jp" {
		t.Errorf("the third message went to %v, want the confirmation to hanako@example.jp", to)
	}
	cm, err := gmail.CreateReader(bytes.NewReader(confirmation.Data))
	if err != nil {
		t.Fatal(err)
	}
	if subj, _ := cm.Header.Subject(); subj != "ご出席を承りました：年末アルムナイ交流会" {
		t.Errorf("the confirmation's subject is %q", subj)
	}
	var calendar string
	for {
		part, err := cm.NextPart()
		if err != nil {
			break
		}
		ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if body, _ := io.ReadAll(part.Body); ct == "text/calendar" {
			calendar = string(body)
		}
	}
	if !strings.Contains(calendar, "METHOD:REQUEST") || !strings.Contains(calendar, "PARTSTAT=ACCEPTED") {
		t.Errorf("the confirmation's calendar object does not accept the event (REQUEST, PARTSTAT=ACCEPTED):\n%s", calendar)
	}

	// A CSP violation is seen (the watch works): an image from another
	// origin is refused.
	eval(`(() => { const i = new Image(); i.src = 'http://127.0.0.1:9/x.png'; document.body.appendChild(i); return 0; })()`)
	seen := 0
	for range 40 {
		if seen = eval(`window.__csp`); seen > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if seen == 0 {
		t.Error("the CSP watch saw no violation from a cross-origin image: it would not see the page's own")
	}

	// The English page at desktop width, in the reader's zone.
	if err := chromedp.Do(browser, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(en), chromedp.WaitVisible(chromedp.ID("send"))); err != nil {
		t.Fatalf("open %s: %v", en, err)
	}
	when, _ := chromedp.Run(browser, chromedp.Text(chromedp.ID("when")))
	if !regexp.MustCompile(`02:00 – 04:00 PST`).MatchString(when) {
		t.Errorf("the English page's time %q is not in Los Angeles time", when)
	}
	if eval(`window.__csp`) != 0 {
		t.Errorf("the English page caused %d CSP violations", eval(`window.__csp`))
	}
	shot("rsvp-desktop-en.png", false)
}
