package render

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/kizuna-alumni/kizuna/campaigns"
)

// screenshot renders html at width px in Chromium and returns the decoded
// full-page PNG.
func screenshot(t *testing.T, ctx context.Context, dir, name, html string, width int64) image.Image {
	t.Helper()
	file := filepath.Join(dir, name+".html")
	if err := os.WriteFile(file, []byte(html), 0o644); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(file)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, 800), chromedp.Navigate("file://"+abs)); err != nil {
		t.Fatalf("%s at %d px: %v", name, width, err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("%s at %d px: screenshot: %v", name, width, err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("%s at %d px: %v", name, width, err)
	}
	return img
}

// samePixels reports whether a and b have the same size and pixels, and
// else the first pixel that differs.
func samePixels(a, b image.Image) (bool, string) {
	if a.Bounds() != b.Bounds() {
		return false, fmt.Sprintf("size %v, was %v", b.Bounds().Size(), a.Bounds().Size())
	}
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			ar, ag, ab, aa := a.At(x, y).RGBA()
			br, bg, bb, ba := b.At(x, y).RGBA()
			if ar != br || ag != bg || ab != bb || aa != ba {
				return false, fmt.Sprintf("pixel (%d,%d)", x, y)
			}
		}
	}
	return true, ""
}

// The lightening step changes nothing a reader sees: every example
// campaign (each locale, its own theme) and the event's notices (both
// locales, both themes), rendered before and after it, give pixel-identical
// screenshots in Chromium at 375 and 800 px. No difference is intended.
func TestLightenLooksTheSame(t *testing.T) {
	ctx := startChromium(t)
	dir := t.TempDir()
	cs, problems := campaigns.Load(filepath.Join("..", "..", "examples", "campaigns"))
	if len(problems) > 0 {
		t.Fatalf("examples do not load:\n%v", problems)
	}
	type page struct {
		name string
		c    *campaigns.Campaign
		o    Options
	}
	var pages []page
	for _, c := range cs {
		pages = append(pages, page{c.ID, c, testOptions()})
	}
	for _, theme := range []string{"default", "flat"} {
		for _, notice := range []string{NoticeConfirmYes, NoticeCancellation, NoticeUpdate} {
			c := event()
			c.Template.Theme = theme
			o := testOptions()
			o.Notice = notice
			pages = append(pages, page{"notice-" + notice + "-" + theme, c, o})
		}
	}
	la := smith()
	la.TimeZone = "America/Los_Angeles"
	compared := 0
	for _, pg := range pages {
		heavyOpts := pg.o
		heavyOpts.heavy = true
		light, heavy := mustPrepare(t, pg.c, pg.o), mustPrepare(t, pg.c, heavyOpts)
		for _, r := range []Recipient{yamada(), la} {
			if _, ok := pg.c.Template.Body[r.Locale]; !ok {
				continue
			}
			before, after := heavy.RenderParts(r).HTML, light.RenderParts(r).HTML
			if len(after) >= len(before) {
				t.Errorf("%s/%s: %d octets after lightening, %d before", pg.name, r.Locale, len(after), len(before))
			}
			for _, width := range []int64{375, 800} {
				name := fmt.Sprintf("%s-%s-%d", pg.name, r.Locale, width)
				a := screenshot(t, ctx, dir, name+"-before", before, width)
				b := screenshot(t, ctx, dir, name+"-after", after, width)
				if ok, where := samePixels(a, b); !ok {
					t.Errorf("%s: the lightened message looks different (%s)", name, where)
				}
				compared++
			}
		}
	}
	t.Logf("%d screenshots compared pixel by pixel", compared)
}
