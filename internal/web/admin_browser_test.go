package web_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/kizuna-alumni/kizuna/internal/testredis"
	"github.com/kizuna-alumni/kizuna/internal/web"
)

// adminSignIn answers the dashboard's Basic challenge in the browser of
// ctx as a person typing the token into the sign-in prompt would (Fetch
// domain, handleAuthRequests), and returns the challenges it saw, as
// "scheme realm", so far.
func adminSignIn(t *testing.T, ctx context.Context) func() []string {
	t.Helper()
	var mu sync.Mutex
	var seen []string
	err := chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *fetch.EventAuthRequired:
			mu.Lock()
			seen = append(seen, e.AuthChallenge.Scheme+" "+e.AuthChallenge.Realm)
			mu.Unlock()
			go chromedp.Call(ctx, fetch.ContinueWithAuth, fetch.ContinueWithAuthParams{RequestID: e.RequestID,
				AuthChallengeResponse: &fetch.AuthChallengeResponse{
					Response: fetch.AuthChallengeResponseResponseProvideCredentials, Username: "hr", Password: adminToken}})
		case *fetch.EventRequestPaused:
			go chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: e.RequestID})
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	on := true
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{HandleAuthRequests: &on}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: adminCSPWatch}); err != nil {
		t.Fatal(err)
	}
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string{}, seen...)
	}
}

// adminCSPWatch lists, in every document the tab opens, the Content
// Security Policy violations it causes: the directive and what it blocked.
const adminCSPWatch = `window.__csp = []; document.addEventListener('securitypolicyviolation',
	e => { window.__csp.push(e.violatedDirective + " " + e.blockedURI + " " + (e.sample || "")); });`

// adminOverflow lists what sticks out of a 1280 px page: the page
// scrolling sideways, an element of main past the viewport's right edge,
// a card or table wrapper that has to scroll.
const adminOverflow = `(() => {
	const out = [], vw = document.documentElement.clientWidth;
	if (document.documentElement.scrollWidth > vw) out.push("page " + document.documentElement.scrollWidth + " > " + vw);
	for (const el of document.querySelectorAll("main *")) {
		const r = el.getBoundingClientRect();
		if (r.right > vw + 0.5) out.push(el.tagName + "." + el.getAttribute("class") + " ends at " + Math.round(r.right));
	}
	for (const el of document.querySelectorAll(".scroll, .card")) {
		if (el.scrollWidth > el.clientWidth + 1) out.push("scrolls: " + el.className + " " + el.scrollWidth + " > " + el.clientWidth);
	}
	return out;
})()`

// adminCharts describes the page's charts: role, title and the widths of
// their filled bars.
const adminCharts = `Array.from(document.querySelectorAll("svg.chart")).map(s => ({
	role: s.getAttribute("role"),
	title: (s.querySelector("title") || {}).textContent || "",
	width: s.getBoundingClientRect().width,
	bars: Array.from(s.querySelectorAll("rect.fill")).map(r => r.getBBox().width),
}))`

type adminChartSeen struct {
	Role  string    `json:"role"`
	Title string    `json:"title"`
	Width float64   `json:"width"`
	Bars  []float64 `json:"bars"`
}

// TestBrowserShowsACampaignsFunnelCharts signs in to the dashboard in
// headless Chromium at 1280 px through the browser's Basic prompt, opens a
// campaign's page and checks that each run's chart is drawn (role img,
// title, bars in proportion), nothing overflows and the CSP blocked
// nothing; the screenshot is docs/screenshots/admin-campaign.png (with
// KIZUNA_UPDATE_DOCS=1). It then opens the queue monitor, whose scripts
// run under their own CSP and show the queue.
func TestBrowserShowsACampaignsFunnelCharts(t *testing.T) {
	rdb := testredis.New(t)
	f := newAdminFixWith(t, web.Options{AdminToken: adminToken, Redis: rdb.Client}, friendlyReplier)
	ctx := unsubChromium(t)
	challenges := adminSignIn(t, ctx)

	err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(f.srv.URL+"/admin/campaigns/"+f.news+"?lang=ja"),
		chromedp.WaitVisible(chromedp.CSS("svg.chart")))
	if err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	rsvpShot(t, "admin-campaign.png", png, true)
	if c := challenges(); len(c) == 0 || !strings.EqualFold(c[0], "basic Kizuna") {
		t.Errorf("challenges %q, want the Basic prompt of realm Kizuna", c)
	}
	heading, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1")))
	if err != nil || !strings.Contains(heading, f.news) {
		t.Errorf("heading %q (%v)", heading, err)
	}
	charts, err := chromedp.Run(ctx, chromedp.Evaluate[[]adminChartSeen](adminCharts))
	if err != nil {
		t.Fatal(err)
	}
	if len(charts) != 2 {
		t.Fatalf("%d charts, want 2: %+v", len(charts), charts)
	}
	for _, c := range charts {
		if c.Role != "img" || !strings.Contains(c.Title, "配信ファネル") || c.Width < 300 || len(c.Bars) != 7 {
			t.Errorf("chart %+v", c)
		}
	}
	// Run 1 (the second chart): sent 36 and opened 24 of 41 recipients.
	if bars := charts[1].Bars; len(bars) != 7 || bars[0] != 280 || bars[1] != 187 {
		t.Errorf("run 1's bars %v: want 280 (sent) and 187 (opened) units", bars)
	}
	overflow, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](adminOverflow))
	if err != nil {
		t.Fatal(err)
	}
	if len(overflow) > 0 {
		t.Errorf("at 1280 px:\n%s", strings.Join(overflow, "\n"))
	}
	if v, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.__csp`)); err != nil || len(v) != 0 {
		t.Errorf("the dashboard caused CSP violations %q (%v)", v, err)
	}

	// The campaigns and replies pages fit too.
	for _, pg := range []struct{ path, shot string }{{"/admin/?lang=ja", "admin-campaigns.png"}, {"/admin/replies?lang=ja", "admin-replies.png"}} {
		if err := chromedp.Do(ctx, chromedp.Navigate(f.srv.URL+pg.path), chromedp.WaitVisible(chromedp.CSS("main h1"))); err != nil {
			t.Fatal(err)
		}
		if png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100)); err != nil {
			t.Fatal(err)
		}
		rsvpShot(t, pg.shot, png, false)
		if overflow, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](adminOverflow)); err != nil || len(overflow) > 0 {
			t.Errorf("%s at 1280 px: %v\n%s", pg.path, err, strings.Join(overflow, "\n"))
		}
	}

	// The queue monitor: its single-page app runs under its own policy and
	// lists Kizuna's queue (an empty Redis has none: enqueue a task).
	enqueueOne(t, rdb)
	err = chromedp.Do(ctx, chromedp.Navigate(f.srv.URL+"/admin/queues/"),
		chromedp.WaitVisible(chromedp.Search(`//*[contains(text(), "kizuna-send")]`)))
	if err != nil {
		t.Fatalf("the queue monitor did not show kizuna-send: %v", err)
	}
	if png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100)); err != nil {
		t.Fatal(err)
	}
	rsvpShot(t, "admin-queues.png", png, false)
	if v, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.__csp`)); err != nil || len(v) != 0 {
		t.Errorf("the queue monitor caused CSP violations %q (%v)", v, err)
	}
}
