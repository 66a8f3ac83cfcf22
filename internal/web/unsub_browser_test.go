package web_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
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

// unsubChromium starts one headless Debian chromium (the flags of
// internal/render's layout test). It skips the test when chromium is not
// installed and CI is unset; under CI (CI=true) a missing chromium fails.
func unsubChromium(t *testing.T) context.Context {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("CI") == "" {
			t.Skip("chromium is not installed (apt-get install chromium); skipping the browser test. Under CI=true this is a failure.")
		}
		t.Fatal("chromium is not installed but CI is set: install it (apt-get install -y chromium)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.WindowSize(375, 812),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium %s: %v", path, err)
	}
	return bctx
}

// unsubShots is where the screenshots go: $KIZUNA_ARTEFACTS/screenshots
// when set, else testdata/screenshots (git-ignored). With
// KIZUNA_UPDATE_DOCS=1 they are also copied to the README's docs/.
func unsubShot(t *testing.T, name string, png []byte) {
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
	if os.Getenv("KIZUNA_UPDATE_DOCS") == "1" {
		if err := os.WriteFile(filepath.Join("..", "..", "docs", name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

var unsubLink = regexp.MustCompile(`<(https?://[^>]+/u/[^>]+)>`)

// TestBrowserUnsubscribesFromARealCampaign sends a real campaign through
// a worker to the test relay, opens the unsubscribe link of a received
// message in headless Chromium at phone width, and clicks the button: the
// person is unsubscribed in Postgres. Another person saves a preference
// through the same page. Screenshots of both pages at 375 px are left as
// artefacts.
func TestBrowserUnsubscribesFromARealCampaign(t *testing.T) {
	browser := unsubChromium(t)
	db := testdb.New(t)
	rd := testredis.New(t)
	relay := smtptest.Start(t)
	ctx := t.Context()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	// The web server, on a free port; the messages' links point at it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	srv, err := web.New(web.Options{DB: db.DB, Signer: token.New([]byte(unsubSecret)), Log: quiet})
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

	// A real campaign: registered, run, expanded and sent by a worker.
	ids := testdb.Alumni(t, db,
		testdb.Alumnus{Email: "hanako@example.jp", FamilyName: "山田", GivenName: "花子", Locale: "ja", Consent: true},
		testdb.Alumnus{Email: "john@example.com", FamilyName: "Smith", GivenName: "John", Locale: "en", Consent: true},
	)
	v, err := runs.RegisterVersion(ctx, db.DB, unsubCampaign())
	if err != nil {
		t.Fatal(err)
	}
	run, _, err := runs.Create(ctx, db.DB, v, "manual:browser", runs.KindSend)
	if err != nil {
		t.Fatal(err)
	}
	ropt, err := asynq.ParseRedisURI(rd.URL)
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(ropt)
	defer client.Close()
	if _, err := runs.ExpandEach(ctx, db.DB, run.ID, runs.EnqueueTasks(tasks.NewEnqueuer(client))); err != nil {
		t.Fatal(err)
	}
	rdb := ropt.MakeRedisClient().(redis.UniversalClient)
	defer rdb.Close()
	deps, err := worker.NewDeps(worker.Setup{SMTPURL: relay.URL(), BaseURL: base, Secret: []byte(unsubSecret), Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	w, err := worker.New(worker.Options{DB: db.DB, Redis: rdb, Deps: deps, Concurrency: 2, Lease: 5 * time.Second,
		Log: quiet, ReconcileEvery: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	wctx, stopWorker := context.WithCancel(context.Background())
	worked := make(chan error, 1)
	go func() { worked <- w.Run(wctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for len(relay.Messages()) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the relay got %d messages, want 2", len(relay.Messages()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	stopWorker()
	if err := <-worked; err != nil {
		t.Fatalf("worker: %v", err)
	}

	links := map[string]string{}
	for _, m := range relay.Messages() {
		if got := unsubLink.FindStringSubmatch(m.Header("List-Unsubscribe")); got != nil {
			links[m.To[0]] = got[1]
		}
	}
	ja, en := links["hanako@example.jp"], links["john@example.com"]
	if ja == "" || en == "" {
		t.Fatalf("no unsubscribe link in the messages: %v", links)
	}

	// The Japanese page at 375 px: fits the phone, one button unsubscribes.
	width := func() int {
		n, err := chromedp.Run(browser, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := chromedp.Do(browser, chromedp.EmulateViewport(375, 812), chromedp.Navigate(ja), chromedp.WaitVisible(chromedp.ID("unsubscribe"))); err != nil {
		t.Fatalf("open %s: %v", ja, err)
	}
	if n := width(); n > 375 {
		t.Errorf("the unsubscribe page is %d px wide at 375 px", n)
	}
	png, err := chromedp.Run(browser, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	unsubShot(t, "web-unsubscribe-ja-375.png", png)
	if err := chromedp.Do(browser, chromedp.Click(chromedp.ID("unsubscribe")), chromedp.WaitVisible(chromedp.ID("done"))); err != nil {
		t.Fatalf("click unsubscribe: %v", err)
	}
	done, err := chromedp.Run(browser, chromedp.Text(chromedp.ID("done")))
	if err != nil || done != "配信を停止しました" {
		t.Errorf("after the click the page says %q (%v)", done, err)
	}
	var st struct {
		Status     string `db:"status"`
		Suppressed bool   `db:"suppressed"`
		Events     int    `db:"events"`
		Via        string `db:"via"`
	}
	if err := db.Get(&st, `SELECT a.status,
		EXISTS (SELECT 1 FROM suppressions s WHERE s.email_hash = sha256(convert_to(a.email, 'UTF8')) AND s.reason = 'unsubscribed') AS suppressed,
		(SELECT count(*) FROM delivery_events e JOIN deliveries d ON d.id = e.delivery_id WHERE d.alumni_id = a.id AND e.kind = 'unsubscribe') AS events,
		coalesce((SELECT e.detail->>'via' FROM delivery_events e JOIN deliveries d ON d.id = e.delivery_id WHERE d.alumni_id = a.id AND e.kind = 'unsubscribe' LIMIT 1), '') AS via
		FROM alumni a WHERE a.id = $1`, ids[0]); err != nil {
		t.Fatal(err)
	}
	if st.Status != "unsubscribed" || !st.Suppressed || st.Events != 1 || st.Via != runs.UnsubscribePage {
		t.Errorf("after the click: %+v, want unsubscribed, suppressed, one event via the page", st)
	}

	// The English page's preferences at 375 px: choose event invitations
	// only and save.
	if err := chromedp.Do(browser, chromedp.Navigate(en), chromedp.WaitVisible(chromedp.ID("save"))); err != nil {
		t.Fatalf("open %s: %v", en, err)
	}
	if n := width(); n > 375 {
		t.Errorf("the preferences page is %d px wide at 375 px", n)
	}
	if err := chromedp.Do(browser, chromedp.Click(chromedp.CSS(`input[name=kinds][value=event]`))); err != nil {
		t.Fatal(err)
	}
	if png, err = chromedp.Run(browser, chromedp.FullScreenshot(100)); err != nil {
		t.Fatal(err)
	}
	unsubShot(t, "web-preferences-en-375.png", png)
	if err := chromedp.Do(browser, chromedp.Click(chromedp.ID("save")), chromedp.WaitVisible(chromedp.ID("done"))); err != nil {
		t.Fatalf("save preferences: %v", err)
	}
	var pref struct {
		Kinds  string `db:"mail_kinds"`
		Status string `db:"status"`
	}
	if err := db.Get(&pref, `SELECT mail_kinds, status FROM alumni WHERE id = $1`, ids[1]); err != nil {
		t.Fatal(err)
	}
	if pref.Kinds != "event" || pref.Status != "active" {
		t.Errorf("after saving: %+v, want event invitations only, still active", pref)
	}
}
