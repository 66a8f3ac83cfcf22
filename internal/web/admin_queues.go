package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"regexp"
	"strings"

	"github.com/hibiken/asynqmon"
	"github.com/redis/go-redis/v9"
)

// queuesRoot is where the Asynq queue monitor (asynqmon) is mounted.
const queuesRoot = "/admin/queues"

// sharedRedis hands the queue monitor the process's one Redis client
// (asynq.RedisConnOpt) instead of letting it dial its own; the process
// closes that client, so the monitor is never closed itself.
type sharedRedis struct{ c redis.UniversalClient }

// MakeRedisClient returns the shared client.
func (o sharedRedis) MakeRedisClient() any { return o.c }

// inlineScript matches a <script> element without attributes: the inline
// scripts of the monitor's page.
var inlineScript = regexp.MustCompile(`(?s)<script>(.*?)</script>`)

// webFonts matches the stylesheet links of the monitor's page to Google's
// web fonts: the dashboard loads nothing from elsewhere (it works offline
// and tells no third party who looks at it), so they are taken out and the
// page uses the system's fonts.
var webFonts = regexp.MustCompile(`<link rel="stylesheet" href="https://fonts\.googleapis\.com/[^"]*"/?>`)

// queueMonitor is asynqmon mounted at queuesRoot, its page without the
// web-font links, and the policy of its subtree.
type queueMonitor struct {
	h          http.Handler
	page, ours []byte // the page asynqmon writes, and the one served
	csp        string
}

// newQueueMonitor mounts asynqmon at queuesRoot over rdb, read-only (the
// dashboard shows the queues; runs are paused and cancelled with the
// campaign commands, and Postgres, not Redis, holds what is due). The
// monitor is a single-page application, so its subtree has a policy of its
// own: its scripts ('self' and the sha256 of each inline script of its
// page, a CSP Level 3 hash-source), inline styles (its component library
// injects them) and requests to this server; nothing from anywhere else.
func newQueueMonitor(rdb redis.UniversalClient) *queueMonitor {
	h := asynqmon.New(asynqmon.Options{RootPath: queuesRoot, RedisConnOpt: sharedRedis{rdb}, ReadOnly: true})
	page := &bufferWriter{header: http.Header{}}
	req, _ := http.NewRequest(http.MethodGet, queuesRoot+"/", nil)
	h.ServeHTTP(page, req)
	m := &queueMonitor{h: h, page: []byte(page.body.String())}
	m.ours = webFonts.ReplaceAll(m.page, nil)
	hashes := []string{"'self'"}
	for _, sm := range inlineScript.FindAllSubmatch(m.ours, -1) {
		sum := sha256.Sum256(sm[1])
		hashes = append(hashes, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
	}
	m.csp = "default-src 'none'; script-src " + strings.Join(hashes, " ") +
		"; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; " +
		"manifest-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
	return m
}

// handleQueues serves the queue monitor under its own CSP; it only reads
// (GET and HEAD), whatever its page offers. Its page (which it answers for
// every path of the application) is served without the web-font links; its
// scripts and API pass through.
func (s *Server) handleQueues(w http.ResponseWriter, r *http.Request) {
	m := s.queues
	w.Header().Set("Content-Security-Policy", m.csp)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "the queue monitor is read-only", http.StatusMethodNotAllowed)
		return
	}
	if strings.HasPrefix(r.URL.Path, queuesRoot+"/api/") || strings.HasPrefix(r.URL.Path, queuesRoot+"/static/") {
		m.h.ServeHTTP(w, r)
		return
	}
	b := &bufferWriter{header: http.Header{}}
	m.h.ServeHTTP(b, r)
	body := []byte(b.body.String())
	if bytes.Equal(body, m.page) {
		body = m.ours
		b.header.Set("Content-Type", "text/html; charset=utf-8")
	}
	for k, v := range b.header {
		w.Header()[k] = v
	}
	if b.code != 0 {
		w.WriteHeader(b.code)
	}
	w.Write(body)
}

// bufferWriter is an http.ResponseWriter that keeps what is written.
type bufferWriter struct {
	header http.Header
	body   strings.Builder
	code   int
}

func (b *bufferWriter) Header() http.Header { return b.header }
func (b *bufferWriter) WriteHeader(code int) {
	if b.code == 0 {
		b.code = code
	}
}
func (b *bufferWriter) Write(p []byte) (int, error) {
	return b.body.Write(p)
}
