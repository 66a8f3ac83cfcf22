package web

import (
	"net/http"
	"testing"
)

// TestAdminTextHasEveryKeyInEveryLocale: a dashboard page never shows an
// empty string because one language lacks a word.
func TestAdminTextHasEveryKeyInEveryLocale(t *testing.T) {
	for a, b := range map[string]string{"ja": "en", "en": "ja"} {
		for key, v := range adminText[a] {
			if v == "" || adminText[b][key] == "" {
				t.Errorf("%q: %s %q, %s %q", key, a, v, b, adminText[b][key])
			}
		}
	}
}

func TestAdminNumberAndCut(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 123456: "123,456", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := adminNumber(n); got != want {
			t.Errorf("adminNumber(%d) = %q, want %q", n, got, want)
		}
	}
	if got := adminCut("あいう\n\nえお  か", 4); got != "あいう…" {
		t.Errorf("adminCut: %q", got)
	}
	if got := adminCut("short", 10); got != "short" {
		t.Errorf("adminCut: %q", got)
	}
}

func TestAdminLangPrefersTheURLThenAcceptLanguage(t *testing.T) {
	cases := []struct{ url, accept, lang, q string }{
		{"/admin/", "", "ja", ""},
		{"/admin/?lang=en", "ja", "en", "?lang=en"},
		{"/admin/?lang=fr", "en", "en", ""},
		{"/admin/", "en-GB;q=0.7, ja-JP;q=0.9", "ja", ""},
		{"/admin/", "de, en;q=0.1", "en", ""},
		{"/admin/", "en;q=bad, ja;q=0.2", "ja", ""},
	}
	for _, c := range cases {
		r, _ := http.NewRequest(http.MethodGet, c.url, nil)
		r.Header.Set("Accept-Language", c.accept)
		if lang, q := adminLang(r); lang != c.lang || q != c.q {
			t.Errorf("%s, %q: %s %q, want %s %q", c.url, c.accept, lang, q, c.lang, c.q)
		}
	}
}
