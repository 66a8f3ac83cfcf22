package web

import (
	"net/http"
	"time"

	"github.com/kizuna-alumni/kizuna/internal/metrics"
)

// routeUnmatched labels requests no route pattern served (refused before
// routing): the raw path is never a label, so the series stay bounded.
const routeUnmatched = "unmatched"

// meter returns the process's metrics, or nil (a no-op) when the server
// has none: Options.Metrics serves /metrics and, when it is a
// *metrics.Metrics, is also where the handlers count opens, clicks and
// unsubscribes (s.meter().Open(class), .Click(class), .Unsubscribed()).
func (s *Server) meter() *metrics.Metrics {
	m, _ := s.opt.Metrics.(*metrics.Metrics)
	return m
}

// instrument counts every request in kizuna_http_requests_total{route,code}
// and times it in kizuna_http_request_duration_seconds{route}. The route is
// the ServeMux pattern that served the request (r.Pattern, Go 1.23), e.g.
// "GET /o/{token}", never the path with its token. Wrapping twice counts
// once.
func (s *Server) instrument(next http.Handler) http.Handler {
	m := s.meter()
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := w.(*metricsWriter); ok {
			next.ServeHTTP(w, r) // already counted by an outer instrument
			return
		}
		began := time.Now()
		mw := &metricsWriter{ResponseWriter: w}
		next.ServeHTTP(mw, r)
		route := r.Pattern // set in place by the ServeMux while routing
		if route == "" {
			if _, p := s.mux.Handler(r); p != "" {
				route = p
			} else {
				route = routeUnmatched
			}
		}
		code := mw.code
		if code == 0 {
			code = http.StatusOK
		}
		m.Request(route, code, time.Since(began))
	})
}

// metricsWriter remembers the status code a handler wrote.
type metricsWriter struct {
	http.ResponseWriter
	code int
}

func (w *metricsWriter) WriteHeader(code int) {
	if w.code == 0 && code >= 200 { // 1xx answers are not the final status
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *metricsWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flush,
// deadlines) through the wrapper.
func (w *metricsWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
