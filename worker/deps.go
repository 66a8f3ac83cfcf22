package worker

import (
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
	d := Deps{
		Relay: mailRelay{relay: relay, base: s.RetryBase},
		Prepare: func(c *campaigns.Campaign, run runs.Run) (Renderer, error) {
			p, err := render.Prepare(c, render.Options{
				BaseURL: s.BaseURL, Signer: signer, InboundAddress: s.InboundAddress, RunNumber: run.Number, DKIM: s.DKIM,
			})
			if err != nil {
				return nil, err
			}
			return renderer{p}, nil
		},
		Window: inWindow(),
	}
	if s.Redis != nil {
		d.Throttle = throttle(ratelimit.New(s.Redis), relay.Account())
	}
	return d, nil
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
	var zones sync.Map
	return func(w *campaigns.Window, tz string, t time.Time) (bool, time.Time) {
		loc, ok := zones.Load(tz)
		if !ok {
			l, err := time.LoadLocation(tz)
			if err != nil || tz == "" {
				l, err = time.LoadLocation("Asia/Tokyo")
				if err != nil {
					l = time.FixedZone("JST", 9*3600)
				}
			}
			loc, _ = zones.LoadOrStore(tz, l)
		}
		zone := loc.(*time.Location)
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

// renderer adapts a render.Prepared (safe for concurrent use).
type renderer struct{ p *render.Prepared }

func (r renderer) Render(rc Recipient) (*Message, error) {
	m, err := r.p.Render(render.Recipient{
		DeliveryID: rc.DeliveryID, Email: rc.Email, FamilyName: rc.FamilyName, GivenName: rc.GivenName,
		Department: rc.Department, JoinedOn: rc.JoinedOn, LeftOn: rc.LeftOn, Locale: rc.Locale, TimeZone: rc.TimeZone,
	})
	if err != nil {
		return nil, err
	}
	return &Message{EnvelopeFrom: m.EnvelopeFrom, To: m.To, MessageID: m.MessageID, Data: m.Data}, nil
}

// mailRelay adapts the mailer package.
type mailRelay struct {
	relay mailer.Relay
	base  time.Duration
}

func (m mailRelay) NewSender() (Sender, error) { return mailSender{mailer.NewSender(m.relay)}, nil }

func (m mailRelay) Classify(err error) Outcome {
	switch mailer.Classify(err) {
	case mailer.OK:
		return Accepted
	case mailer.Temporary:
		return Temporary
	case mailer.HardBounce:
		return HardBounce
	case mailer.SenderRejected:
		return SenderRejected
	case mailer.RelayUnavailable:
		return RelayUnavailable
	default:
		return Permanent
	}
}

func (m mailRelay) Backoff(attempt int) time.Duration {
	d := mailer.BackoffDelay(attempt, nil)
	if m.base > 0 && m.base != mailer.BackoffBase {
		d = time.Duration(float64(d) * float64(m.base) / float64(mailer.BackoffBase))
	}
	return d
}

func (m mailRelay) Explain(err error) string { return mailer.Explain(err) }

type mailSender struct{ s mailer.Sender }

func (s mailSender) Send(ctx context.Context, m *Message) error {
	return s.s.Send(ctx, mailer.Envelope{From: m.EnvelopeFrom, To: m.To, Data: m.Data})
}

func (s mailSender) LastReply() string { return s.s.LastReply() }
func (s mailSender) Close() error      { return s.s.Close() }

// zoneName is the recipient's IANA time zone as the send window uses it:
// an empty or unknown zone counts as Asia/Tokyo, the roster's default.
func zoneName(tz string) string {
	if tz == "" {
		return "Asia/Tokyo"
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return "Asia/Tokyo"
	}
	return tz
}

// loadZone loads a zone named by zoneName (JST when even that fails).
func loadZone(name string) *time.Location {
	if l, err := time.LoadLocation(name); err == nil {
		return l
	}
	return time.FixedZone("JST", 9*3600)
}
