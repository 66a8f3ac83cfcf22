package worker

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// relayGate is one worker process's view of whether the relay answers.
// While the relay is down (connection refused, timeouts, 421 at the
// greeting, a relay-wide 4xx), no send goroutine dials it: one probe at a
// time is let through, at growing intervals (backoff with jitter, capped),
// and every other delivery waits without using up an attempt. The first
// answer from the relay opens the gate again.
type relayGate struct {
	base, max  time.Duration // first and longest wait between probes
	alertAfter time.Duration // an outage this long is logged as an ALERT

	// down mirrors downSince != 0 so that the send path, once per
	// message, checks a healthy relay without taking the lock.
	down atomic.Bool

	mu        sync.Mutex
	downSince time.Time // zero: the relay answers
	failures  int       // consecutive probes that failed
	nextTry   time.Time // no probe before this
	probing   bool      // a goroutine is trying the relay now
	lastErr   string
	lastLog   time.Time
	alerted   bool
}

// Defaults of the relay gate.
const (
	DefaultRelayRetryBase  = 5 * time.Second
	DefaultRelayRetryMax   = 5 * time.Minute
	DefaultRelayAlertAfter = 15 * time.Minute
	// relayLogEvery bounds the log lines about one outage.
	relayLogEvery = time.Minute
)

func newRelayGate(base, max, alertAfter time.Duration) *relayGate {
	return &relayGate{base: base, max: max, alertAfter: alertAfter}
}

// admit reports whether a goroutine may talk to the relay now. While the
// relay is down only one goroutine at a time is admitted, once nextTry has
// come; the others get the time to come back (retryAt).
func (g *relayGate) admit(now time.Time) (ok bool, retryAt time.Time) {
	if !g.down.Load() {
		return true, time.Time{}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.downSince.IsZero() {
		return true, time.Time{}
	}
	if g.probing || now.Before(g.nextTry) {
		at := g.nextTry
		if !at.After(now) {
			at = now.Add(g.base)
		}
		return false, at
	}
	g.probing = true
	return true, time.Time{}
}

// outage is what failed reports about the relay being down.
type outage struct {
	since   time.Time // when the outage began
	nextTry time.Time // the next probe
	err     string    // the last failure
	log     bool      // say so in the log now (at most once a minute)
	alert   bool      // say so as an ALERT now (once, when it exceeds alertAfter)
	first   bool      // this failure began the outage
}

// failed records that the relay did not answer (errText says how) and
// returns when to try again.
func (g *relayGate) failed(now time.Time, errText string) outage {
	g.mu.Lock()
	defer g.mu.Unlock()
	first := g.downSince.IsZero()
	if first {
		g.downSince = now
		g.failures = 0
		g.alerted = false
		g.down.Store(true)
	}
	g.probing = false
	g.failures++
	g.lastErr = errText
	wait := g.base << min(g.failures-1, 20)
	if wait > g.max || wait <= 0 {
		wait = g.max
	}
	// ±20 % jitter, so that several workers do not probe in step.
	wait = time.Duration(float64(wait) * (0.8 + 0.4*rand.Float64()))
	g.nextTry = now.Add(wait)
	o := outage{since: g.downSince, nextTry: g.nextTry, err: errText, first: first}
	if now.Sub(g.lastLog) >= relayLogEvery {
		g.lastLog = now
		o.log = true
	}
	if !g.alerted && g.alertAfter > 0 && now.Sub(g.downSince) >= g.alertAfter {
		g.alerted = true
		o.alert = true
	}
	return o
}

// answered records that the relay took part in a transaction (it accepted
// the message, or refused it for reasons of its own); it reports whether
// that ended an outage and how long the outage lasted.
func (g *relayGate) answered(now time.Time) (ended bool, lasted time.Duration) {
	if !g.down.Load() {
		return false, 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.probing = false
	if g.downSince.IsZero() {
		return false, 0
	}
	lasted = now.Sub(g.downSince)
	g.down.Store(false)
	g.downSince, g.failures, g.nextTry, g.lastLog, g.alerted = time.Time{}, 0, time.Time{}, time.Time{}, false
	return true, lasted
}

// abandoned records that an admitted probe ended without an answer either
// way (the message was refused for its own reasons, or the worker stops):
// the next goroutine may probe.
func (g *relayGate) abandoned() {
	g.mu.Lock()
	g.probing = false
	g.mu.Unlock()
}
