package web

import (
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

// newQueueMonitor mounts asynqmon at queuesRoot over rdb, read-only (the
// dashboard shows the queues; runs are paused and cancelled with the
// campaign commands, and Postgres, not Redis, holds what is due). It
// returns the handler and the Content-Security-Policy of its subtree: the
// monitor is a single-page application, so its subtree allows its own
// scripts ('self' and the sha256 of each inline script of its page, RFC
// CSP3 §8.3 hash-source), inline styles (its component library injects
// them) and requests to this server; nothing from anywhere else.
func newQueueMonitor(rdb redis.UniversalClient) (http.Handler, string) {
	h := asynqmon.New(asynqmon.Options{RootPath: queuesRoot, RedisConnOpt: sharedRedis{rdb}, ReadOnly: true})
	page := &bufferWriter{header: http.Header{}}
	req, _ := http.NewRequest(http.MethodGet, queuesRoot+"/", nil)
	h.ServeHTTP(page, req)
	hashes := []string{"'self'"}
	for _, m := range inlineScript.FindAllSubmatch([]byte(page.body.String()), -1) {
		sum := sha256.Sum256(m[1])
		hashes = append(hashes, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
	}
	csp := "default-src 'none'; script-src " + strings.Join(hashes, " ") +
		"; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; " +
		"manifest-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
	return h, csp
}

// handleQueues serves the queue monitor under its own CSP; it only reads
// (GET and HEAD), whatever its page offers.
func (s *Server) handleQueues(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", s.queuesCSP)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "the queue monitor is read-only", http.StatusMethodNotAllowed)
		return
	}
	s.queues.ServeHTTP(w, r)
}

// bufferWriter is an http.ResponseWriter that keeps what is written.
type bufferWriter struct {
	header http.Header
	body   strings.Builder
	code   int
}

func (b *bufferWriter) Header() http.Header  { return b.header }
func (b *bufferWriter) WriteHeader(code int) { b.code = code }
func (b *bufferWriter) Write(p []byte) (int, error) {
	return b.body.Write(p)
}
