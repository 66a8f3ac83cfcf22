package runs

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/kizuna-alumni/kizuna/internal/store"
)

// Reasons a run is held back (run_holds.reason, migrations/0009).
const (
	// HoldRelay: the relay does not answer or defers all mail; the run
	// tries again with backoff and carries on by itself.
	HoldRelay = "relay"
	// HoldQuota: the relay account's daily quota (kizuna.yaml throttle
	// per_day) is used up until Until.
	HoldQuota = "quota"
	// HoldWindow: the recipients' send window is closed until Until.
	HoldWindow = "window"
)

// relayHoldGrace keeps a relay hold visible for a while after its next try
// was due: the try itself may take up to the relay timeout.
const relayHoldGrace = 2 * time.Minute

// Hold says why an active run is not sending now and until when.
type Hold struct {
	Reason string `json:"reason"` // HoldRelay, HoldQuota or HoldWindow
	// Detail is the relay's error (HoldRelay) or the IANA time zone whose
	// window is closed (HoldWindow); "" for HoldQuota.
	Detail string    `json:"detail"`
	Since  time.Time `json:"since"` // when the run was first held for this reason
	Until  time.Time `json:"until"` // the next try, or when the quota or window opens
}

// SetHold records that run runID is held for h.Reason until h.Until. The
// time it was first held is kept while the reason stays the same; h.Since
// is used when the run was not held for that reason before (zero: now).
func SetHold(ctx context.Context, db sqlx.ExecerContext, runID int64, h Hold) error {
	var since any
	if !h.Since.IsZero() {
		since = h.Since
	}
	if _, err := db.ExecContext(ctx, qSetHold,
		runID, h.Reason, h.Detail, h.Until, since); err != nil {
		return fmt.Errorf("hold run %d: %w", runID, err)
	}
	return nil
}

// ClearHolds forgets every run's hold for reason (the relay answers again).
func ClearHolds(ctx context.Context, db sqlx.ExecerContext, reason string) error {
	if _, err := db.ExecContext(ctx, qClearHolds, reason); err != nil {
		return fmt.Errorf("clear %s holds: %w", reason, err)
	}
	return nil
}

// PauseForSender pauses a run whose relay refused the sender the same way
// for many recipients (the worker's circuit breaker, README "Guarantees")
// and remembers the replies: the deliveries that already failed with one of
// them go back to pending now and again on Resume (those recorded in the
// meantime by other workers), with their attempts reset, so that everyone
// is sent the message once the sender is fixed. Hard bounces are never put
// back. Returns ErrState when the run is no longer active.
func PauseForSender(ctx context.Context, db *sqlx.DB, runID int64, reason string, replies []string) error {
	return store.InTx(ctx, db, func(tx *sqlx.Tx) error {
		return PauseForSenderTx(ctx, tx, runID, reason, replies)
	})
}

// PauseForSenderTx is PauseForSender in tx, for a caller whose pause must
// commit with what it recorded (the inbound intake's sender-side bounces,
// which pass no replies: their deliveries were sent, nothing is put
// back). After ErrState tx is still usable.
func PauseForSenderTx(ctx context.Context, tx *sqlx.Tx, runID int64, reason string, replies []string) error {
	if len(replies) > 0 {
		if _, err := tx.ExecContext(ctx, qAddRequeueReplies, runID, pq.StringArray(replies)); err != nil {
			return fmt.Errorf("pause run %d: %w", runID, err)
		}
	}
	return changeState(ctx, tx, runID, "pause", qPause, []any{reason}, qRequeueFailed)
}
