package worker

import (
	"context"
	"time"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/runs"
)

// The worker reaches rendering, the relay, the throttles and the send
// window through the small interfaces below, so that the claim, send and
// record loop reads on its own; deps.go wires them to the real packages.

// Recipient is one claimed delivery and the alumnus it goes to.
type Recipient struct {
	DeliveryID int64
	AlumniID   int64
	Email      string
	FamilyName string
	GivenName  string
	Department string
	JoinedOn   time.Time // zero when unknown
	LeftOn     time.Time // zero when unknown
	Locale     string
	TimeZone   string
}

// Message is one rendered message, ready for the relay.
type Message struct {
	EnvelopeFrom string
	To           string
	MessageID    string
	Data         []byte
}

// Renderer renders one run's messages; it is shared by every goroutine of
// the process, so it must be safe for concurrent use.
type Renderer interface {
	Render(r Recipient) (*Message, error)
}

// Outcome is what a relay's answer means for a delivery.
type Outcome int

// Outcomes of a send.
const (
	// Accepted: the relay took the message.
	Accepted Outcome = iota
	// Temporary: 4xx or a network error; try again later.
	Temporary
	// Permanent: 5xx for this recipient; the delivery fails.
	Permanent
	// HardBounce: the address does not exist (5.1.1, 5.1.2, 5.1.10);
	// the delivery fails and the address is suppressed.
	HardBounce
	// SenderRejected: the relay refuses the sender or the session for
	// good (authentication, 5.7.x policy, 5.1.7/5.1.8, an untrusted
	// certificate); not the recipient's fault: the run pauses.
	SenderRejected
	// RelayUnavailable: the relay cannot be reached or defers all mail
	// for now (connection refused, 421, a relay-wide 4xx or quota); not
	// the recipient's fault: no attempt is used and the run waits with
	// backoff until the relay answers again.
	RelayUnavailable
)

// Sender sends messages over one relay connection that it keeps between
// messages. One goroutine uses a Sender at a time.
type Sender interface {
	Send(ctx context.Context, m *Message) error
	Close() error
}

// Relay is the mail side of the worker.
type Relay interface {
	// NewSender makes a sender with its own connection.
	NewSender() (Sender, error)
	// Classify maps a Send error (nil: accepted) to an outcome.
	Classify(err error) Outcome
	// Backoff is the wait before attempt+1 after a temporary failure
	// (exponential, with jitter).
	Backoff(attempt int) time.Duration
	// Explain says in a sentence why a send error stops or holds a run
	// (for the pause reason, campaign status and the log).
	Explain(err error) string
}

// Deps are the worker's collaborators.
type Deps struct {
	Relay Relay
	// Prepare compiles a campaign version for one run's messages; called
	// once per run per process (the result is cached).
	Prepare func(c *campaigns.Campaign, run runs.Run) (Renderer, error)
	// Throttle reserves one message of run to email under every limit
	// (per run, per relay, per recipient domain), all or nothing.
	Throttle func(ctx context.Context, c *campaigns.Campaign, run runs.Run, email string) (Wait, error)
	// Window reports whether t is inside the send window w in time zone
	// tz and, when it is not, the next moment it opens. nil: always open.
	Window func(w *campaigns.Window, tz string, t time.Time) (ok bool, next time.Time)
}

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
