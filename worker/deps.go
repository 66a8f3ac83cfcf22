package worker

import (
	"cmp"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/mailer"
	"github.com/kizuna-alumni/kizuna/internal/ratelimit"
	"github.com/kizuna-alumni/kizuna/internal/render"
	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/token"
	"github.com/kizuna-alumni/kizuna/internal/tz"
	"github.com/kizuna-alumni/kizuna/internal/window"
)

// Setup is what NewDeps needs from the configuration.
type Setup struct {
	SMTPURL        string // KIZUNA_SMTP_URL
	BaseURL        string // KIZUNA_BASE_URL
	InboundAddress string // KIZUNA_INBOUND_ADDRESS
	Secret         []byte // KIZUNA_SECRET
	// RetryBase scales the retry backoff: the first retry waits about
	// this long (default mailer.BackoffBase).
	RetryBase time.Duration
	// DKIM, when set, signs every message (render.Options.DKIM).
	DKIM *render.DKIM
	// Redis holds the shared throttle counters; nil disables throttles.
	Redis redis.UniversalClient
}

// Deps are the worker's collaborators: the relay, the renderer of campaign
// versions, and the shared throttles and send window.
type Deps struct {
	// Relay is KIZUNA_SMTP_URL, parsed; each send goroutine gets its own
	// mailer.Sender (connection) for it.
	Relay mailer.Relay
	// RetryBase scales the retry backoff of a temporary failure (the first
	// retry waits about this long; default mailer.BackoffBase).
	RetryBase time.Duration
	// Prepare compiles a campaign version for one of a run's messages;
	// called once per run and message per process (the result is cached
	// and shared by every goroutine: *render.Prepared is safe for
	// concurrent use).
	Prepare PrepareFunc
	// Throttle reserves one message of run to email under every limit
	// (per run, per relay, per recipient domain), all or nothing; nil: no
	// limits.
	Throttle func(ctx context.Context, c *campaigns.Campaign, run runs.Run, email string) (Wait, error)
	// Window reports whether t is inside the send window w in time zone
	// tz and, when it is not, the next moment it opens. nil: always open.
	Window func(w *campaigns.Window, tz string, t time.Time) (ok bool, next time.Time)
	// Forget8BitMIME makes Prepare ask the relay about 8BITMIME again:
	// called when a send met mailer.ErrNo8BitMIME (the relay changed).
	// nil: nothing to forget.
	Forget8BitMIME func()
}

// PrepareFunc compiles campaign version c for run's message (the
// campaign's own when "", else a notice: runs.Claimed.Message,
// render.Options.Notice).
type PrepareFunc func(c *campaigns.Campaign, run runs.Run, message string) (*render.Prepared, error)

// Wait is a throttle's answer: zero RetryIn means send now.
type Wait struct {
	// RetryIn is how long until the denying limit has room again.
	RetryIn time.Duration
	// WholeRun is true when the denying limit holds back every message of
	// the run (its per-minute limit, the relay's daily quota), false when
	// it is the recipient's domain.
	WholeRun bool
	// Spacing is the average gap between messages under the denying
	// limit, used to spread released deliveries instead of bringing them
	// all back at once.
	Spacing time.Duration
	// Quota is true when the denying limit is the relay account's daily
	// quota (the run is held until RetryIn, and says so).
	Quota bool
	// Cancel, set when the message was allowed, takes the reservation
	// back from every limit: limits count only messages the relay
	// accepted.
	Cancel func(context.Context) error
}

// backoff is the wait before attempt+1 after a temporary failure:
// mailer.BackoffDelay scaled by RetryBase.
func (d Deps) backoff(attempt int) time.Duration {
	b := mailer.BackoffDelay(attempt, nil)
	if d.RetryBase > 0 && d.RetryBase != mailer.BackoffBase {
		b = time.Duration(float64(b) * float64(d.RetryBase) / float64(mailer.BackoffBase))
	}
	return b
}

// NewDeps wires the worker to the real renderer and relay.
func NewDeps(s Setup) (Deps, error) {
	relay, err := mailer.ParseRelay(s.SMTPURL)
	if err != nil {
		return Deps{}, err
	}
	if len(s.Secret) == 0 {
		return Deps{}, errors.New("worker: KIZUNA_SECRET is required to sign links")
	}
	signer := token.New(s.Secret)
	eight := &eightBitMIME{relay: relay}
	d := Deps{
		Relay:     relay,
		RetryBase: s.RetryBase,
		Prepare: func(c *campaigns.Campaign, run runs.Run, message string) (*render.Prepared, error) {
			return render.Prepare(c, render.Options{
				BaseURL: s.BaseURL, Signer: signer, InboundAddress: s.InboundAddress, RunNumber: run.Number, DKIM: s.DKIM,
				Notice: message, EightBitMIME: eight.offered(),
			})
		},
		Window:         inWindow(),
		Forget8BitMIME: eight.forget,
	}
	if s.Redis != nil {
		d.Throttle = throttle(ratelimit.New(s.Redis), relay.Account())
	}
	return d, nil
}

// eightBitMIME is whether the relay offers 8BITMIME, asked once
// (mailer.Probe) the first time a version is prepared and kept until
// forget. A probe that fails (the relay is down) counts as "no" and is not
// kept: quoted-printable and base64 reach any relay.
type eightBitMIME struct {
	relay mailer.Relay
	mu    sync.Mutex
	known bool
	ok    bool
}

func (e *eightBitMIME) offered() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.known {
		ctx, cancel := context.WithTimeout(context.Background(), cmp.Or(e.relay.Timeout, mailer.DefaultTimeout))
		defer cancel()
		ok, err := mailer.Probe(ctx, e.relay)
		e.ok, e.known = ok && err == nil, err == nil
	}
	return e.ok
}

func (e *eightBitMIME) forget() {
	e.mu.Lock()
	e.known = false
	e.mu.Unlock()
}

// throttle checks a campaign's limits (SPEC.md, kizuna.yaml throttle):
// per run per minute, per relay account per day, per recipient domain per
// minute (carrier domains have built-in limits).
func throttle(l *ratelimit.Limiter, account string) func(context.Context, *campaigns.Campaign, runs.Run, string) (Wait, error) {
	relayKey := ratelimit.RelayKey(account)
	return func(ctx context.Context, c *campaigns.Campaign, run runs.Run, email string) (Wait, error) {
		runLim := ratelimit.Limit{Key: ratelimit.RunKey(run.ID), Count: c.Throttle.PerMinute, Per: time.Minute}
		relayLim := ratelimit.Limit{Key: relayKey, Count: c.Throttle.PerDay, Per: 24 * time.Hour}
		domLim := ratelimit.DomainLimitFor(email, c.Throttle.Domains)
		if run.Kind == runs.KindNotice {
			// A confirmation is one mail to one person who just asked
			// for it: only the relay account's daily quota, which the
			// relay enforces anyway, holds it back.
			runLim, domLim = ratelimit.Limit{}, ratelimit.Limit{}
		}
		dec, err := l.AllowAll(ctx, time.Time{}, runLim, relayLim, domLim)
		if err != nil {
			return Wait{}, err
		}
		if dec.OK {
			res := dec.Reservation
			return Wait{Cancel: func(ctx context.Context) error { return l.Cancel(ctx, res) }}, nil
		}
		w := Wait{RetryIn: dec.RetryIn}
		for _, lim := range []ratelimit.Limit{runLim, relayLim, domLim} {
			if lim.Key == dec.Denied && lim.Count > 0 {
				w.Spacing = lim.Per / time.Duration(lim.Count)
				w.WholeRun = lim.Key != domLim.Key
				w.Quota = lim.Key == relayKey
			}
		}
		if w.RetryIn <= 0 {
			w.RetryIn = time.Millisecond
		}
		return w, nil
	}
}

// inWindow checks the send window in the recipient's time zone (an unknown
// zone counts as Asia/Tokyo, the roster's default).
func inWindow() func(*campaigns.Window, string, time.Time) (bool, time.Time) {
	return func(w *campaigns.Window, name string, t time.Time) (bool, time.Time) {
		zone := tz.Load(name)
		if window.Allowed(w, zone, t) {
			return true, t
		}
		next := window.Next(w, zone, t)
		if next.IsZero() {
			next = t.Add(24 * time.Hour)
		}
		return false, next
	}
}
