package runs

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Kinds of the events the web server records (delivery_events.kind).
const (
	EventOpen  = "open"
	EventClick = "click"
)

// Classifications of opens and clicks (delivery_events.classification;
// /work/shared/research/domain.md §5): a person, Apple Mail Privacy
// Protection's prefetch, another image proxy (Gmail, Yahoo, Outlook), a
// security scanner, or not known.
const (
	ClassHuman    = "human"
	ClassAppleMPP = "apple_mpp"
	ClassProxy    = "proxy"
	ClassScanner  = "scanner"
	ClassUnknown  = "unknown"
)

// Scanner timing rules for clicks (domain.md §5: security gateways such as
// Microsoft Safe Links, Proofpoint and Mimecast fetch links, often every
// link, seconds after delivery).
const (
	// ScannerClickDelay: a click sooner than this after the delivery was
	// sent is a scanner's.
	ScannerClickDelay = 10 * time.Second
	// ScannerBurst: clicks of different links of one delivery within
	// this of each other are all a scanner's.
	ScannerBurst = 2 * time.Second
)

// Event is one open or click the web server saw.
type Event struct {
	DeliveryID int64
	Kind       string // EventOpen or EventClick
	// Classification is what the request itself says (Class*); the
	// timing rules may turn a click into a scanner's when it is recorded.
	Classification string
	// Flag says why a request was taken for a machine's ("" none); stored
	// in detail.flag.
	Flag string
	Link int    // the link's 0-based index (clicks)
	URL  string // the link's target (clicks)
	// IP is the client's address; "" or an unparsable one is stored as
	// unknown (NULL).
	IP        string
	UserAgent string
	At        time.Time // when the request came
}

// Limits of what an event stores: a hostile client cannot store much.
const (
	maxUserAgent = 512
	maxTarget    = 2048
)

// RecordEvents records events in one statement (inside a transaction with
// the click locks of qLockEventDeliveries when there are clicks): events
// of deliveries that do not exist are dropped, not an error. Clicks are
// flagged by the timing rules (ScannerClickDelay, ScannerBurst) in SQL, so
// any number of servers recording at once agree. Errors are the
// database's, wrapped.
func RecordEvents(ctx context.Context, db *sqlx.DB, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	n := len(events)
	ids := make([]int64, n)
	kinds, classes, targets := make([]string, n), make([]string, n), make([]string, n)
	links := make([]int64, n)
	ips, uas, ats, flags := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	var clicks []int64
	for i, e := range events {
		ids[i], kinds[i], classes[i], flags[i] = e.DeliveryID, e.Kind, e.Classification, cleanText(e.Flag, 64)
		if classes[i] == "" {
			classes[i] = ClassUnknown
		}
		links[i] = -1
		if e.Kind == EventClick {
			links[i], targets[i] = int64(e.Link), cleanText(e.URL, maxTarget)
			clicks = append(clicks, e.DeliveryID)
		}
		if a, err := netip.ParseAddr(e.IP); err == nil {
			ips[i] = a.Unmap().String()
		}
		uas[i] = cleanText(e.UserAgent, maxUserAgent)
		at := e.At
		if at.IsZero() {
			at = time.Now()
		}
		ats[i] = at.UTC().Format(time.RFC3339Nano)
	}
	args := []any{pq.Int64Array(ids), pq.StringArray(kinds), pq.StringArray(classes), pq.StringArray(targets),
		pq.Int64Array(links), pq.StringArray(ips), pq.StringArray(uas), pq.StringArray(ats),
		ScannerClickDelay.Seconds(), ScannerBurst.Seconds(), pq.StringArray(flags)}
	if len(clicks) == 0 {
		if _, err := db.ExecContext(ctx, qRecordEvents, args...); err != nil {
			return fmt.Errorf("record %d events: %w", n, err)
		}
		return nil
	}
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record %d events: %w", n, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, qLockEventDeliveries, pq.Int64Array(clicks)); err != nil {
		return fmt.Errorf("record %d events: lock: %w", n, err)
	}
	if _, err := tx.ExecContext(ctx, qRecordEvents, args...); err != nil {
		return fmt.Errorf("record %d events: %w", n, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record %d events: %w", n, err)
	}
	return nil
}

// cleanText makes s storable as Postgres text: valid UTF-8 without NUL,
// at most n bytes.
func cleanText(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "")
	return truncate(s, n)
}
