package render

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/templates"
)

// startChromium starts one headless Debian chromium for a test. It skips
// the test when chromium is not installed and CI is unset; under CI
// (CI=true) a missing chromium fails the test. The flags keep a machine
// without network quiet (no first run, sync, update or QUIC traffic).
func startChromium(t *testing.T) context.Context {
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
			t.Skip("chromium is not installed (apt-get install chromium); skipping the browser layout test. Under CI=true this is a failure.")
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
		chromedp.WindowSize(800, 900),
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

// artefactDir is where browser tests leave screenshots: $KIZUNA_ARTEFACTS
// when set, else testdata/screenshots (git-ignored).
func artefactDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("testdata", "screenshots")
	if d := os.Getenv("KIZUNA_ARTEFACTS"); d != "" {
		dir = filepath.Join(d, "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// layout is what the page reports about its own geometry and styles.
type layout struct {
	ScrollWidth int      `json:"scrollWidth"`
	Viewport    int      `json:"viewport"`
	Wide        []string `json:"wide"`
	BodyLB      string   `json:"bodyLineBreak"`
	BodyWB      string   `json:"bodyWordBreak"`
	CellLinks   int      `json:"cellLinks"`
	CellWrap    []string `json:"cellWrap"`
	Buttons     []string `json:"buttons"`
	ButtonGaps  []int    `json:"buttonGaps"`
}

// layoutJS measures the page: its scroll width, every element that sticks
// out of the viewport, the line-breaking rules in force, the links inside
// table cells, and the vertical gap between buttons stacked on top of each
// other.
const layoutJS = `(() => {
  const vw = document.documentElement.clientWidth;
  const wide = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.right > vw + 0.5 || r.left < -0.5) {
      wide.push(el.tagName.toLowerCase() + '.' + el.className + ' [' + Math.round(r.left) + ',' + Math.round(r.right) + '] ' + (el.textContent || '').trim().slice(0, 40));
    }
  }
  const bs = getComputedStyle(document.body);
  const cellLinks = document.querySelectorAll('.data-table td a');
  const buttons = [...document.querySelectorAll('a.button')];
  const gaps = [];
  for (let i = 1; i < buttons.length; i++) {
    const a = buttons[i-1].getBoundingClientRect(), b = buttons[i].getBoundingClientRect();
    if (b.top >= a.bottom - 1) gaps.push(Math.round(b.top - a.bottom));
  }
  return {
    scrollWidth: document.documentElement.scrollWidth, viewport: vw, wide: wide.slice(0, 8),
    bodyLineBreak: bs.lineBreak, bodyWordBreak: bs.wordBreak,
    cellLinks: cellLinks.length, cellWrap: [...cellLinks].map(a => getComputedStyle(a).overflowWrap),
    buttons: buttons.map(b => b.textContent.trim()), buttonGaps: gaps,
  };
})()`

// Every example campaign, in each locale and both themes, rendered for a
// sample recipient through the real render path, fits a 375 px phone screen
// without sideways scrolling, and an 800 px one. Screenshots of each example
// in its own theme are left as artefacts.
func TestMobileLayout(t *testing.T) {
	ctx := startChromium(t)
	shots := artefactDir(t)
	pages := t.TempDir()
	cs, problems := campaigns.Load(filepath.Join("..", "..", "examples", "campaigns"))
	if len(problems) > 0 {
		t.Fatalf("examples do not load:\n%v", problems)
	}
	la := smith()
	la.TimeZone = "America/Los_Angeles"
	tables, stacked := 0, 0
	for _, c := range cs {
		for _, theme := range templates.Themes {
			cc := *c
			cc.Template.Theme = theme
			p := mustPrepare(t, &cc, testOptions())
			for _, r := range []Recipient{yamada(), la} {
				if _, ok := c.Template.Body[r.Locale]; !ok {
					continue
				}
				name := fmt.Sprintf("%s-%s-%s", c.ID, r.Locale, theme)
				file := filepath.Join(pages, name+".html")
				if err := os.WriteFile(file, []byte(p.RenderParts(r).HTML), 0o644); err != nil {
					t.Fatal(err)
				}
				abs, _ := filepath.Abs(file)
				for _, width := range []int64{375, 800} {
					if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, 800), chromedp.Navigate("file://"+abs)); err != nil {
						t.Fatalf("%s at %d px: %v", name, width, err)
					}
					l, err := chromedp.Run(ctx, chromedp.Evaluate[layout](layoutJS))
					if err != nil {
						t.Fatalf("%s at %d px: %v", name, width, err)
					}
					var png []byte
					if theme == c.Template.Theme {
						if png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100)); err != nil {
							t.Fatalf("%s at %d px: screenshot: %v", name, width, err)
						}
					}
					if l.ScrollWidth > int(width) || len(l.Wide) > 0 {
						t.Errorf("%s at %d px: scrollWidth %d (viewport %d); wider than the viewport: %q", name, width, l.ScrollWidth, l.Viewport, l.Wide)
					}
					if png != nil {
						if err := os.WriteFile(filepath.Join(shots, fmt.Sprintf("%s-%d.png", name, width)), png, 0o644); err != nil {
							t.Fatal(err)
						}
					}
					if width != 375 {
						continue
					}
					if r.Locale == "ja" && (l.BodyLB != "strict" || l.BodyWB != "normal") {
						t.Errorf("%s: Japanese text has line-break %q word-break %q, want strict and normal", name, l.BodyLB, l.BodyWB)
					}
					if c.Template.Body[r.Locale].Table != nil {
						tables++
						if l.CellLinks == 0 {
							t.Errorf("%s: the URLs in the table are not links", name)
						}
						for _, w := range l.CellWrap {
							if w != "anywhere" {
								t.Errorf("%s: a link in a table cell has overflow-wrap %q, want anywhere", name, w)
							}
						}
					}
					for _, g := range l.ButtonGaps {
						stacked++
						if g < 8 {
							t.Errorf("%s: stacked buttons %q are %d px apart, want at least 8", name, l.Buttons, g)
						}
					}
				}
			}
		}
	}
	if tables == 0 || stacked == 0 {
		t.Errorf("the examples exercised %d tables and %d stacked buttons at 375 px; want some of each", tables, stacked)
	}
	if t.Failed() {
		return
	}
	t.Logf("screenshots in %s", shots)
}

// Notices (the event's details, with a long place and page, and the RSVP
// buttons or none) fit a 375 px phone screen in both themes without
// sideways scrolling. Screenshots are left as artefacts.
func TestNoticeMobileLayout(t *testing.T) {
	ctx := startChromium(t)
	shots := artefactDir(t)
	pages := t.TempDir()
	la := smith()
	la.TimeZone = "America/Los_Angeles"
	for _, theme := range templates.Themes {
		c := event()
		c.Template.Theme = theme
		c.Event.Location = "東京都渋谷区神南一丁目二番三号 Example本社ビル十階 大会議室「さくら」（受付は一階エントランス）"
		c.Event.URL = "https://example.co.jp/events/2026/year-end-alumni-evening/registration-and-access-information?ref=alumni-mail"
		for _, notice := range []string{NoticeConfirmYes, NoticeCancellation, NoticeUpdate} {
			o := testOptions()
			o.Notice = notice
			p := mustPrepare(t, c, o)
			for _, r := range []Recipient{yamada(), la} {
				name := fmt.Sprintf("notice-%s-%s-%s", notice, r.Locale, theme)
				file := filepath.Join(pages, name+".html")
				if err := os.WriteFile(file, []byte(p.RenderParts(r).HTML), 0o644); err != nil {
					t.Fatal(err)
				}
				abs, _ := filepath.Abs(file)
				if err := chromedp.Do(ctx, chromedp.EmulateViewport(375, 800), chromedp.Navigate("file://"+abs)); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				l, err := chromedp.Run(ctx, chromedp.Evaluate[layout](layoutJS))
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if l.ScrollWidth > 375 || len(l.Wide) > 0 {
					t.Errorf("%s at 375 px: scrollWidth %d; wider than the viewport: %q", name, l.ScrollWidth, l.Wide)
				}
				if want := map[bool]int{true: 0, false: 3}[notice == NoticeCancellation]; len(l.Buttons) != want {
					t.Errorf("%s: buttons %q, want %d", name, l.Buttons, want)
				}
				png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
				if err != nil {
					t.Fatalf("%s: screenshot: %v", name, err)
				}
				if err := os.WriteFile(filepath.Join(shots, name+"-375.png"), png, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}
