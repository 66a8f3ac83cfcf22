package web

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/token"
)

// trackPixel is a 1×1 transparent GIF (GIF89a, 43 bytes).
var trackPixel = []byte{
	'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0, // header, 1×1, 2-colour table
	0, 0, 0, 0xff, 0xff, 0xff, // black, white
	0x21, 0xf9, 4, 1, 0, 0, 0, 0, // graphic control: colour 0 transparent
	0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, // image descriptor
	2, 2, 0x44, 0x01, 0, // LZW data
	0x3b, // trailer
}

// handleOpen serves GET /o/TOKEN, the open pixel: a 1×1 transparent GIF,
// never cached. A valid token's open is recorded (time, user agent, IP,
// classification) before the answer; an invalid one gets the same GIF and
// records nothing, so the answer tells nothing about tokens. When the
// event cannot be recorded (Postgres unreachable after retries) the answer
// is 503.
func (s *Server) handleOpen(w http.ResponseWriter, r *http.Request) {
	c, err := s.opt.Signer.Verify(r.PathValue("token"), token.Open)
	if err == nil && c.DeliveryID > 0 {
		ua := r.UserAgent()
		ip := trackClientIP(r)
		class, why := classifyOpen(ua, ip)
		if r.Method == http.MethodHead {
			class, why = runs.ClassScanner, "head_request"
		}
		ev := runs.Event{DeliveryID: c.DeliveryID, Kind: runs.EventOpen, Classification: class, Flag: why,
			IP: trackIPString(ip), UserAgent: ua, At: s.opt.Now()}
		if err := s.rec.record(r.Context(), ev); err != nil {
			s.log.Warn("open not recorded", "delivery_id", c.DeliveryID, "err", err)
			personal(w)
			http.Error(w, "try again later", http.StatusServiceUnavailable)
			return
		}
		s.meter().Open(class)
	}
	personal(w)
	h := w.Header()
	h.Set("Content-Type", "image/gif")
	h.Set("Content-Length", strconv.Itoa(len(trackPixel)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(trackPixel)
	}
}

// handleClick serves GET /c/TOKEN, a tracked link: a 302 to the URL signed
// into the token — never one from the query string, which is ignored
// (domain.md §5: an open redirect invites phishing) — after recording the
// click (which also counts as an open). An invalid or altered token, or a
// signed target that is not http(s), is the not-found page and never a
// redirect. When the click cannot be recorded (Postgres unreachable after
// retries) the person is still sent on and the loss is logged.
func (s *Server) handleClick(w http.ResponseWriter, r *http.Request) {
	c, err := s.opt.Signer.Verify(r.PathValue("token"), token.Click)
	if err != nil || !trackRedirectable(c.URL) {
		s.handleNotFound(w, r)
		return
	}
	if c.DeliveryID > 0 {
		ua := r.UserAgent()
		ip := trackClientIP(r)
		class, why := classifyClick(ua)
		if r.Method == http.MethodHead {
			class, why = runs.ClassScanner, "head_request"
		}
		ev := runs.Event{DeliveryID: c.DeliveryID, Kind: runs.EventClick, Classification: class, Flag: why,
			Link: c.Link, URL: c.URL, IP: trackIPString(ip), UserAgent: ua, At: s.opt.Now()}
		if err := s.rec.record(r.Context(), ev); err != nil {
			s.log.Error("click not recorded; redirecting anyway", "delivery_id", c.DeliveryID, "link", c.Link, "err", err)
		} else {
			s.meter().Click(class)
		}
	}
	personal(w)
	w.Header().Set("Location", c.URL)
	w.WriteHeader(http.StatusFound)
}

// trackRedirectable reports whether u is an absolute http(s) URL.
func trackRedirectable(u string) bool {
	p, err := url.Parse(u)
	return err == nil && (p.Scheme == "https" || p.Scheme == "http") && p.Host != ""
}

// trackClientIP is the client's address: the TCP peer, or — when the peer
// is a reverse proxy on loopback or a private network (the https front of
// README "The web server") — the last address that proxy appended to
// X-Forwarded-For. Zero when unknown.
func trackClientIP(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	peer = peer.Unmap()
	if peer.IsLoopback() || peer.IsPrivate() {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			last := xff[len(xff)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if a, err := netip.ParseAddr(strings.TrimSpace(last)); err == nil {
				return a.Unmap()
			}
		}
	}
	return peer
}

func trackIPString(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	return ip.String()
}
