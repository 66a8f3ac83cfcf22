package web

import (
	"net/netip"
	"strings"

	"github.com/kizuna-alumni/kizuna/internal/runs"
)

// trackAppleEgress are Apple's own networks. Apple Mail Privacy
// Protection fetches remote images through Apple's proxies, whose requests
// carry the bare user agent "Mozilla/5.0" (domain.md §5; Apple publishes
// the full egress list at mask-api.icloud.com/egress-ip-ranges.csv, which
// also names partner CDN ranges).
var trackAppleEgress = []netip.Prefix{
	netip.MustParsePrefix("17.0.0.0/8"),
	netip.MustParsePrefix("2620:149::/32"),
	netip.MustParsePrefix("2a01:b740::/32"),
}

// trackProxyAgents mark image proxies other than Apple's: they fetch the
// pixel for the reader's mail service, often once and cached, whether or
// not the message is read (domain.md §5).
var trackProxyAgents = []string{
	"googleimageproxy", "ggpht.com", // Gmail (since 2013-12)
	"yahoomailproxy", "yahoo! slurp", // Yahoo Mail
	"ms-office", "microsoft office", "outlook-ios", "outlook-android", "microsoft outlook", // Outlook prefetch
	"bingpreview", "skypeuripreview",
}

// trackScannerAgents mark security gateways and tools that fetch links and
// images to inspect them (domain.md §5: Microsoft Safe Links, Proofpoint,
// Mimecast, Barracuda…), and HTTP libraries no mail program uses.
var trackScannerAgents = []string{
	"barracuda", "proofpoint", "mimecast", "safelinks", "safe links", "forcepoint", "symantec", "messagelabs",
	"trend micro", "trendmicro", "sophos", "fortinet", "fortiguard", "cisco", "ironport", "zscaler", "paloalto",
	"checkpoint", "cloudmark", "vade", "spamhaus",
	"headlesschrome", "phantomjs", "python-requests", "python-urllib", "aiohttp", "httpx", "curl/", "wget/",
	"go-http-client", "java/", "okhttp", "apache-httpclient", "libwww-perl", "node-fetch", "axios/",
	"bot/", "bot;", "bot)", "crawler", "spider", "scanner",
}

// classifyOpen says who fetched the open pixel, from the request's user
// agent and the client's address (zero when unknown): runs.ClassAppleMPP,
// ClassProxy, ClassScanner or ClassHuman (domain.md §5). The second result
// is why, for the event's detail ("" for a human).
func classifyOpen(userAgent string, ip netip.Addr) (class, why string) {
	ua := strings.ToLower(strings.TrimSpace(userAgent))
	if ua == "mozilla/5.0" {
		// Apple's proxies send exactly this; the partner CDNs in Apple's
		// egress list are not shipped here, so the agent alone decides.
		return runs.ClassAppleMPP, "apple_mpp_user_agent"
	}
	if ip.IsValid() && trackInApple(ip) && !strings.Contains(ua, "safari/") && !strings.Contains(ua, "chrome/") {
		return runs.ClassAppleMPP, "apple_egress"
	}
	if class, why := classifyAgent(ua); class != "" {
		return class, why
	}
	return runs.ClassHuman, ""
}

// classifyClick says who followed a tracked link, from the user agent
// alone: runs.ClassScanner for a scanner or HTTP tool, ClassProxy for a
// link previewer, else ClassHuman. The timing rules (a click seconds after
// delivery, several links at once) are applied when the click is recorded
// (runs.RecordEvents), where every server sees the same clicks.
func classifyClick(userAgent string) (class, why string) {
	ua := strings.ToLower(strings.TrimSpace(userAgent))
	if class, why := classifyAgent(ua); class == runs.ClassScanner {
		return class, why
	}
	return runs.ClassHuman, ""
}

// classifyAgent classifies a lower-cased user agent: scanner (empty, a
// security gateway, an HTTP library), proxy (an image proxy or previewer),
// or "" when it names neither.
func classifyAgent(ua string) (class, why string) {
	if ua == "" {
		return runs.ClassScanner, "empty_user_agent"
	}
	for _, p := range trackProxyAgents {
		if strings.Contains(ua, p) {
			return runs.ClassProxy, "proxy_user_agent"
		}
	}
	for _, s := range trackScannerAgents {
		if strings.Contains(ua, s) {
			return runs.ClassScanner, "scanner_user_agent"
		}
	}
	return "", ""
}

// trackInApple reports whether ip is in Apple's own networks.
func trackInApple(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range trackAppleEgress {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
