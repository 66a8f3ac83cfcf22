package web

import (
	"net/http"
)

// contentSecurityPolicy allows the page's own stylesheet and images and
// nothing else: no script at all, no inline script, no framing, forms only
// to this server.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self' data:; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// secure adds the security headers every answer carries, bounds request
// bodies, and refuses cross-origin browser form posts (Go's
// http.CrossOriginProtection, which lets requests without browser
// provenance headers through: the RFC 8058 one-click POST comes from mail
// providers' servers).
func (s *Server) secure(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		}
		if err := cop.Check(r); err != nil {
			http.Error(w, "cross-origin request refused", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// personal marks an answer that concerns one person: never cached by
// browsers or proxies.
func personal(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
}
