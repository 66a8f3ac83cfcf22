package web

import (
	"net/netip"
	"testing"

	"github.com/kizuna-alumni/kizuna/internal/runs"
)

func TestClassifyOpen(t *testing.T) {
	apple := netip.MustParseAddr("17.58.100.1")
	other := netip.MustParseAddr("203.0.113.9")
	cases := []struct {
		ua   string
		ip   netip.Addr
		want string
	}{
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148", other, runs.ClassHuman},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36", other, runs.ClassHuman},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)", netip.Addr{}, runs.ClassHuman},
		{"Mozilla/5.0", apple, runs.ClassAppleMPP},
		{"Mozilla/5.0", other, runs.ClassAppleMPP},
		{" mozilla/5.0 ", netip.Addr{}, runs.ClassAppleMPP},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)", apple, runs.ClassAppleMPP},
		{"Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 Version/17.5 Safari/605.1.15", apple, runs.ClassHuman},
		{"Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)", other, runs.ClassProxy},
		{"YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html", other, runs.ClassProxy},
		{"Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)", other, runs.ClassProxy},
		{"Barracuda Sentinel (EE)", other, runs.ClassScanner},
		{"Mozilla/5.0 (compatible; Proofpoint URL Defense)", other, runs.ClassScanner},
		{"python-requests/2.31.0", other, runs.ClassScanner},
		{"curl/8.5.0", other, runs.ClassScanner},
		{"Mozilla/5.0 HeadlessChrome/120.0", other, runs.ClassScanner},
		{"", other, runs.ClassScanner},
		{"   ", netip.Addr{}, runs.ClassScanner},
	}
	for _, c := range cases {
		if got, _ := classifyOpen(c.ua, c.ip); got != c.want {
			t.Errorf("classifyOpen(%q, %v) = %s, want %s", c.ua, c.ip, got, c.want)
		}
	}
}

func TestClassifyClick(t *testing.T) {
	cases := []struct{ ua, want string }{
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1", runs.ClassHuman},
		{"Mozilla/5.0", runs.ClassHuman}, // Apple prefetches images, not links
		{"Mozilla/5.0 (compatible; Mimecast URL Protect)", runs.ClassScanner},
		{"Microsoft Safe Links", runs.ClassScanner},
		{"Go-http-client/1.1", runs.ClassScanner},
		{"", runs.ClassScanner},
		{"Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)", runs.ClassHuman},
	}
	for _, c := range cases {
		if got, _ := classifyClick(c.ua); got != c.want {
			t.Errorf("classifyClick(%q) = %s, want %s", c.ua, got, c.want)
		}
	}
}
