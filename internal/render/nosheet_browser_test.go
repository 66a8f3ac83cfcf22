package render

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/kizuna-alumni/kizuna/campaigns"
)

// styleElementRE matches a <style> element of a rendered message.
var styleElementRE = regexp.MustCompile(`(?s)<style[^>]*>.*?</style>`)

// unstyled is what TestReadableWithoutStyleSheets reads of a page.
type unstyled struct {
	Cells, Sheets int
	MinPad        float64
	ButtonBG      string
	Font          string
}

// A client that drops the head's style sheets (some webmail and
// third-party Gmail apps do) still shows the hiring digest's table with
// space around every cell, the buttons with their colour and the text in
// the theme's font stack: what the theme moved to the head sheet (the
// data cells' padding and typography, line breaking) has a fallback or is
// a refinement.
func TestReadableWithoutStyleSheets(t *testing.T) {
	ctx := startChromium(t)
	c, probs := campaigns.LoadFile(filepath.Join("..", "..", "examples", "campaigns", "2027-02-boomerang-hiring.yaml"))
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	p := mustPrepare(t, c, testOptions())
	dir := t.TempDir()
	for _, r := range []Recipient{yamada(), smith()} {
		doc := styleElementRE.ReplaceAllString(p.RenderParts(r).HTML, "")
		file := filepath.Join(dir, r.Locale+".html")
		if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		abs, _ := filepath.Abs(file)
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(800, 800), chromedp.Navigate("file://"+abs)); err != nil {
			t.Fatal(err)
		}
		js := `(() => {
			const cells = [...document.querySelectorAll('td[data-label], th')];
			const pads = cells.flatMap(c => { const s = getComputedStyle(c); return [s.paddingLeft, s.paddingRight].map(parseFloat); });
			const button = document.querySelector('a.button') || document.querySelector('a[style*="background-color"]');
			return {Cells: cells.length, Sheets: document.styleSheets.length, MinPad: Math.min(...pads),
				ButtonBG: button ? getComputedStyle(button).backgroundColor : '',
				Font: getComputedStyle(document.querySelector('td[data-label]')).fontFamily};
		})()`
		got, err := chromedp.Run(ctx, chromedp.Evaluate[unstyled](js))
		if err != nil {
			t.Fatal(err)
		}
		if got.Sheets != 0 || got.Cells != 12 {
			t.Fatalf("%s: %d style sheets, %d table cells; want none and 12", r.Locale, got.Sheets, got.Cells)
		}
		if got.MinPad < 5 {
			t.Errorf("%s: a table cell has %.0f px of padding at a side without the style sheets, want at least 5", r.Locale, got.MinPad)
		}
		if got.ButtonBG == "" || got.ButtonBG == "rgba(0, 0, 0, 0)" {
			t.Errorf("%s: the button has no background colour without the style sheets", r.Locale)
		}
		if !regexp.MustCompile(`Noto Sans CJK JP`).MatchString(got.Font) {
			t.Errorf("%s: table text in %q without the style sheets, want the theme's font stack", r.Locale, got.Font)
		}
	}
}
