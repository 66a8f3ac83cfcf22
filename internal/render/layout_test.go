package render

import (
	"html"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/token"
	"github.com/kizuna-alumni/kizuna/templates"
)

// hiring is a newsletter whose table lists job postings by URL.
func hiring(clicks bool) *campaigns.Campaign {
	c := newsletter()
	c.ID = "hiring"
	c.Tracking.Clicks = clicks
	b := c.Template.Body["ja"]
	b.Table = &campaigns.Table{Columns: []string{"職種", "募集要項"}, Rows: [][]string{
		{"バックエンドエンジニア", "https://example.co.jp/careers/backend"},
		{"人事", "https://example.co.jp/careers/hr?src=alumni&e={{.Email}}"},
		{"プロダクトマネージャー", "詳細は後日"},
	}}
	c.Template.Body["ja"] = b
	return c
}

// cellLinkRE finds a link alone in a cell of the data table (its cells carry
// a data-label; the masthead's cell holds a link too).
var cellLinkRE = regexp.MustCompile(`<td [^>]*data-label="[^"]*"[^>]*>\s*<a\s+href="([^"]*)"[^>]*>([^<]*)</a>\s*</td>`)

// A URL in a table cell becomes a link, rewritten for click tracking like
// every other link, in the HTML and in the plain text; other cells stay text.
func TestTableURLsAreTrackedLinks(t *testing.T) {
	t.Parallel()
	r := yamada()
	want := []string{"https://example.co.jp/careers/backend", "https://example.co.jp/careers/hr?src=alumni&e=taro.yamada%40example.jp"}
	pt := mustPrepare(t, hiring(true), testOptions()).RenderParts(r)
	ms := cellLinkRE.FindAllStringSubmatch(pt.HTML, -1)
	if len(ms) != len(want) {
		t.Fatalf("%d links in table cells, want %d:\n%s", len(ms), len(want), pt.HTML)
	}
	for i, m := range ms {
		href := html.UnescapeString(m[1])
		c := verifyURL(t, href, "c", token.Click, r.DeliveryID)
		if c.URL != want[i] {
			t.Errorf("cell link %d goes to %q, want %q", i, c.URL, want[i])
		}
		if !strings.HasPrefix(html.UnescapeString(m[2]), "https://example.co.jp/careers/") {
			t.Errorf("cell link %d reads %q, want the URL", i, m[2])
		}
		if !strings.Contains(pt.Text, href) {
			t.Errorf("plain text lacks the tracked link %q", href)
		}
	}
	if strings.Contains(pt.Text, "https://example.co.jp/careers/backend") {
		t.Error("plain text shows the untracked table URL")
	}
	if !strings.Contains(pt.HTML, "詳細は後日</td>") {
		t.Error("a text cell changed")
	}

	// With click tracking off the links go straight to their targets.
	pt = mustPrepare(t, hiring(false), testOptions()).RenderParts(r)
	ms = cellLinkRE.FindAllStringSubmatch(pt.HTML, -1)
	if len(ms) != 2 || html.UnescapeString(ms[0][1]) != want[0] || html.UnescapeString(ms[1][1]) != want[1] {
		t.Errorf("untracked cell links %q", ms)
	}
}

var (
	// wrapperTagRE finds the outermost table: it carries the font stack
	// inline, since clients may drop <body> and its styles (Gmail does).
	wrapperTagRE = regexp.MustCompile(`<body[^>]*>\s*<table[^>]*>`)
	fontFamRE    = regexp.MustCompile(`font-family:([^;"]*)`)
)

// Japanese messages use a Japanese-first font stack with Noto Sans JP and
// Noto Sans CJK JP (Android, Linux); English ones a Latin-first stack that
// still carries the Japanese fonts for names and places.
func TestFontStacks(t *testing.T) {
	t.Parallel()
	japanese := map[string]bool{"Hiragino Sans": true, "Hiragino Kaku Gothic ProN": true, "Noto Sans JP": true,
		"Noto Sans CJK JP": true, "Yu Gothic": true, "YuGothic": true, "Meiryo": true}
	for _, theme := range templates.Themes {
		c := newsletter()
		c.Template.Theme = theme
		p := mustPrepare(t, c, testOptions())
		for _, r := range []Recipient{yamada(), smith()} {
			m := fontFamRE.FindStringSubmatch(html.UnescapeString(wrapperTagRE.FindString(p.RenderParts(r).HTML)))
			if m == nil {
				t.Fatalf("%s/%s: no font-family on the wrapper table", theme, r.Locale)
			}
			var fonts []string
			for _, f := range strings.Split(m[1], ",") {
				fonts = append(fonts, strings.Trim(strings.TrimSpace(f), `'"`))
			}
			has := map[string]bool{}
			for _, f := range fonts {
				has[f] = true
			}
			if !has["Noto Sans JP"] || !has["Noto Sans CJK JP"] || fonts[len(fonts)-1] != "sans-serif" {
				t.Errorf("%s/%s: font stack %q lacks Noto Sans JP, Noto Sans CJK JP or the generic family", theme, r.Locale, fonts)
			}
			if first := fonts[0]; japanese[first] != (r.Locale == "ja") {
				t.Errorf("%s/%s: font stack %q starts with %q", theme, r.Locale, fonts, first)
			}
		}
	}
}

var (
	buttonRE = regexp.MustCompile(`<a [^>]*class="button"[^>]*>`)
	styleRE  = regexp.MustCompile(`style="([^"]*)"`)
)

// buttonColors returns the text and background color in force on each
// button of a rendered HTML body (the last declaration of each wins).
func buttonColors(t *testing.T, body string) [][2]string {
	t.Helper()
	var out [][2]string
	for _, a := range buttonRE.FindAllString(body, -1) {
		m := styleRE.FindStringSubmatch(a)
		if m == nil {
			t.Fatalf("button without style: %s", a)
		}
		var fg, bg string
		for _, decl := range strings.Split(html.UnescapeString(m[1]), ";") {
			k, v, _ := strings.Cut(decl, ":")
			v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "!important"))
			switch strings.TrimSpace(k) {
			case "color":
				fg = v
			case "background-color":
				bg = v
			}
		}
		out = append(out, [2]string{fg, bg})
	}
	return out
}

// Every button the themes and the example campaigns produce, and those of
// campaigns with light or mid-tone colors of their own, has text that
// passes WCAG 2.1 AA against its background (contrast ≥ 4.5:1).
func TestButtonContrast(t *testing.T) {
	t.Parallel()
	cs, problems := campaigns.Load(filepath.Join("..", "..", "examples", "campaigns"))
	if len(problems) > 0 {
		t.Fatalf("examples do not load:\n%v", problems)
	}
	for _, color := range []string{"#FFD54F", "#00948D", "#9CA3AF", "#fff", "#2f6f4f"} {
		c := event()
		c.ID = "colored"
		c.Template.Body = map[string]campaigns.Body{"ja": {Actions: []campaigns.Action{{ButtonText: "見る", ButtonLink: "https://example.co.jp", ButtonColor: color}}}}
		cs = append(cs, c)
	}
	checked := 0
	for _, c := range cs {
		for _, theme := range templates.Themes {
			cc := *c
			cc.Template.Theme = theme
			p := mustPrepare(t, &cc, testOptions())
			for _, r := range []Recipient{yamada(), smith()} {
				for _, pair := range buttonColors(t, p.RenderParts(r).HTML) {
					ratio, err := templates.Contrast(pair[0], pair[1])
					if err != nil {
						t.Fatalf("%s/%s/%s: %v", c.ID, theme, r.Locale, err)
					}
					if ratio < templates.MinContrast {
						t.Errorf("%s/%s/%s: button text %s on %s has contrast %.2f:1, want ≥ 4.5:1", c.ID, theme, r.Locale, pair[0], pair[1], ratio)
					}
					checked++
				}
			}
		}
	}
	if checked < 40 {
		t.Errorf("checked only %d buttons", checked)
	}
}
