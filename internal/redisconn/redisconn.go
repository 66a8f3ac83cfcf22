// Package redisconn watches whether Redis answers and keeps what a process
// says about it short: one clear line when Redis stops answering, at most
// one a minute while it stays away, one when it is back — instead of the
// line per failed command that Asynq and go-redis would otherwise print.
// Commands use Wait at start-up (give up after a bounded wait, exit 1) and
// running processes use Watch (never give up).
package redisconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults of a Monitor.
const (
	// DefaultStartWait bounds how long a command waits for Redis at start.
	DefaultStartWait = 30 * time.Second
	// QuietPeriod is the least time between two lines about the same trouble.
	QuietPeriod = time.Minute
	// maxBackoff caps the wait between two pings while Redis is away.
	maxBackoff = 15 * time.Second
	// firstBackoff is the first wait after a failed ping.
	firstBackoff = 250 * time.Millisecond
	// healthyEvery is the period of Watch's pings while Redis answers.
	healthyEvery = 5 * time.Second
	// pingTimeout bounds one ping.
	pingTimeout = 3 * time.Second
)

// Monitor tracks whether the Redis at one address answers. Its methods are
// safe for concurrent use.
type Monitor struct {
	addr  string
	log   *slog.Logger
	ping  func(context.Context) error
	quiet time.Duration
	now   func() time.Time

	mu       sync.Mutex
	down     bool
	since    time.Time            // when Redis stopped answering
	lastLine time.Time            // when the last "does not answer" line was logged
	lines    map[string]time.Time // other rate-limited lines, by key
	dropped  map[string]int       // lines left out since the last one of each key
}

// New watches the Redis that client talks to; addr (host:port, never a URL
// with its password) names it in log lines. A nil log discards them.
func New(client redis.UniversalClient, addr string, log *slog.Logger) *Monitor {
	return newMonitor(func(ctx context.Context) error { return client.Ping(ctx).Err() }, addr, log)
}

func newMonitor(ping func(context.Context) error, addr string, log *slog.Logger) *Monitor {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if addr == "" {
		addr = "the configured address"
	}
	return &Monitor{addr: addr, log: log, ping: ping, quiet: QuietPeriod, now: time.Now,
		lines: map[string]time.Time{}, dropped: map[string]int{}}
}

// Addr is the address the monitor names in its lines.
func (m *Monitor) Addr() string { return m.addr }

// Down reports whether the last ping failed.
func (m *Monitor) Down() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.down
}

// Check pings Redis once, logs a change (or, while Redis stays away, a
// reminder at most once per QuietPeriod) and returns the ping's error.
func (m *Monitor) Check(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	err := m.ping(pctx)
	cancel()
	if err != nil && ctx.Err() != nil {
		return ctx.Err() // stopping, not a Redis failure
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	switch {
	case err == nil && m.down:
		m.down = false
		m.log.Info(fmt.Sprintf("Redis at %s answers again", m.addr), "down_for", now.Sub(m.since).Round(time.Second).String())
	case err != nil && !m.down:
		m.down, m.since, m.lastLine = true, now, now
		m.log.Warn(fmt.Sprintf("Redis at %s does not answer: %s; retrying", m.addr, reason(err)))
	case err != nil && now.Sub(m.lastLine) >= m.quiet:
		m.lastLine = now
		m.log.Warn(fmt.Sprintf("Redis at %s still does not answer after %s: %s; retrying", m.addr, now.Sub(m.since).Round(time.Second), reason(err)))
	}
	return err
}

// ErrNoAnswer is wrapped by Wait's error when Redis did not answer in time.
var ErrNoAnswer = errors.New("Redis did not answer")

// noAnswer is Wait's error when Redis did not answer in time.
type noAnswer struct {
	addr   string
	wait   time.Duration
	reason string
}

func (e *noAnswer) Error() string {
	return fmt.Sprintf("Redis at %s did not answer within %s: %s", e.addr, e.wait, e.reason)
}

func (e *noAnswer) Unwrap() error { return ErrNoAnswer }

// Wait pings Redis until it answers, backing off exponentially (from 250 ms
// to 15 s) between tries, and logs as Check does. It returns nil once Redis
// answers, an error wrapping ErrNoAnswer when it has not within maxWait
// (DefaultStartWait when maxWait <= 0), or ctx's error.
func (m *Monitor) Wait(ctx context.Context, maxWait time.Duration) error {
	if maxWait <= 0 {
		maxWait = DefaultStartWait
	}
	deadline := time.Now().Add(maxWait)
	backoff := firstBackoff
	for {
		err := m.Check(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("stopped while waiting for Redis at %s: %w", m.addr, ctx.Err())
		}
		left := time.Until(deadline)
		if left <= 0 {
			return &noAnswer{addr: m.addr, wait: maxWait, reason: reason(err)}
		}
		select {
		case <-ctx.Done():
		case <-time.After(min(backoff, left)):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// Watch pings Redis until ctx ends: every 5 s while it answers, backing off
// exponentially (250 ms to 15 s) while it does not. It never gives up.
func (m *Monitor) Watch(ctx context.Context) {
	backoff := firstBackoff
	for {
		wait := healthyEvery
		if m.Check(ctx) != nil {
			wait, backoff = backoff, min(2*backoff, maxBackoff)
		} else {
			backoff = firstBackoff
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// Allow reports whether a line about key may be logged now: no line while
// Redis is down when about is true (the monitor's own lines say it), and
// otherwise at most one line per key per QuietPeriod. dropped is the number
// of lines of key left out since the last one allowed.
func (m *Monitor) Allow(key string, aboutRedis bool) (ok bool, dropped int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if (aboutRedis && m.down) || now.Sub(m.lines[key]) < m.quiet {
		m.dropped[key]++
		return false, 0
	}
	m.lines[key] = now
	dropped = m.dropped[key]
	delete(m.dropped, key)
	return true, dropped
}

// Printf is go-redis's internal logger (redis.SetLogger): its lines go to
// the monitor's log at warning level, at most one a minute per format, and
// none about connections (those are the monitor's to report).
func (m *Monitor) Printf(_ context.Context, format string, v ...any) {
	msg := strings.TrimSpace(fmt.Sprintf(format, v...))
	if IsConnError(msg) {
		return
	}
	if ok, n := m.Allow("go-redis:"+format, true); ok {
		m.log.Warn("redis: "+msg, droppedAttrs(n)...)
	}
}

// Library logs one line of a library that talks to Redis (Asynq) at level:
// lines about the connection to Redis are left to the monitor; any other
// line is logged at most once a minute per distinct text (its first 60
// bytes), with the count of those left out in between.
func (m *Monitor) Library(level slog.Level, msg string) {
	msg = strings.TrimSpace(msg)
	if level >= slog.LevelWarn && IsConnError(msg) {
		return
	}
	key := msg
	if len(key) > 60 {
		key = key[:60]
	}
	if ok, n := m.Allow("lib:"+key, true); ok {
		m.log.Log(context.Background(), level, msg, droppedAttrs(n)...)
	}
}

func droppedAttrs(n int) []any {
	if n == 0 {
		return nil
	}
	return []any{"similar_lines_left_out", n}
}

// connErrorMarks are the texts by which a library's error line says that
// the connection to Redis failed.
var connErrorMarks = []string{
	"connection refused", "dial tcp", "dial unix", "i/o timeout", "connection reset",
	"broken pipe", "no route to host", "network is unreachable", "EOF",
	"client is closed", "connection pool timeout", "LOADING", "use of closed network connection",
}

// IsConnError reports whether msg (an error text of go-redis or Asynq) is
// about reaching Redis rather than about a command.
func IsConnError(msg string) bool {
	for _, s := range connErrorMarks {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// reason is the error text of a failed ping.
func reason(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "no reply within " + pingTimeout.String()
	}
	return err.Error()
}
