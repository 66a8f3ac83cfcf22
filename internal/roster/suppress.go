package roster

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/kizuna-alumni/kizuna/internal/store"
)

// Statuses of an alumnus (alumni.status, migrations/0001): only active
// people are mailed.
const (
	StatusActive       = "active"
	StatusUnsubscribed = "unsubscribed"
	StatusBounced      = "bounced"
	StatusForgotten    = "forgotten"
)

// Statuses lists every alumnus status; SuppressReasons every suppression
// reason (tests compare both with the schema's CHECK constraints).
var (
	Statuses        = []string{StatusActive, StatusUnsubscribed, StatusBounced, StatusForgotten}
	SuppressReasons = []string{SuppressUnsubscribed, SuppressBounced, SuppressForgotten}
)

// Reasons an address is suppressed (suppressions.reason, migrations/0001).
const (
	SuppressUnsubscribed = "unsubscribed" // the person asked for no more mail
	SuppressBounced      = "bounced"      // the address does not exist (a hard bounce)
	SuppressForgotten    = "forgotten"    // erased at the person's request
)

// Suppress puts each address of emails on the suppression list for reason
// (SuppressUnsubscribed or SuppressBounced), so that it is never mailed
// again by any campaign, and moves the active alumni with those addresses
// to the matching status. An address already suppressed keeps its first
// reason; an alumnus who is not active keeps their status (a bounced
// person who unsubscribes stays bounced). db is usually the caller's
// transaction, so that the suppression commits with what caused it (the
// delivery's record, the unsubscribe event). This is the one verb every
// writer of suppressions calls: the worker for hard bounces, the
// unsubscribe command, the web server and the inbound intake.
func Suppress(ctx context.Context, db sqlx.ExecerContext, reason string, emails []string) error {
	if reason != SuppressUnsubscribed && reason != SuppressBounced {
		return fmt.Errorf("suppress: unknown reason %q", reason)
	}
	if len(emails) == 0 {
		return nil
	}
	addrs := make([]string, len(emails))
	hashes := make([][]byte, len(emails))
	for i, e := range emails {
		addrs[i] = normalize(e)
		hashes[i] = store.HashEmail(addrs[i])
	}
	if _, err := db.ExecContext(ctx, qSuppressAlumni, pq.StringArray(addrs), reason); err != nil {
		return fmt.Errorf("suppress %d address(es) as %s: %w", len(emails), reason, err)
	}
	if _, err := db.ExecContext(ctx, qSuppressHashes, pq.ByteaArray(hashes), reason); err != nil {
		return fmt.Errorf("suppress %d address(es) as %s: %w", len(emails), reason, err)
	}
	return nil
}
