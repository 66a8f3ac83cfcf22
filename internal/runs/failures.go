package runs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/kizuna-alumni/kizuna/internal/store"
)

// Failure is one failed delivery of a run, as `kizuna campaign status ID
// --failures` lists it (SPEC.md, Commands).
type Failure struct {
	// Delivery is the deliveries row id (the id worker logs carry).
	Delivery int64 `db:"id" json:"delivery"`
	// Email is the recipient's address; nil for a person since forgotten
	// (their address was erased; SPEC.md, alumni forget).
	Email *string `db:"email" json:"email"`
	// At is when the delivery failed (its last update), RFC 3339 UTC.
	At time.Time `db:"at" json:"at"`
	// Attempts counts the attempts since the delivery was last queued
	// (a retry starts again from 0).
	Attempts int `db:"attempts" json:"attempts"`
	// Reply is the relay's last reply ("550 5.1.1 ..."), or the reason
	// the delivery failed without one; "" once the person is forgotten.
	Reply string `db:"smtp_reply" json:"reply"`
	// HardBounce is true when the failure was a hard bounce: the address
	// does not exist and is suppressed (RFC 3463 5.1.1, 5.1.2, 5.1.10).
	HardBounce bool `db:"hard_bounce" json:"hard_bounce"`
}

// FailuresLimit bounds how many failures Failures returns for one run;
// the run's failed count (Status) says how many there are in all.
const FailuresLimit = 1000

var failuresQuery = qFailures

// Failures returns the failed deliveries of run runID, oldest failure
// first, at most limit of them (FailuresLimit when limit <= 0). An
// unknown run has none.
func Failures(ctx context.Context, db sqlx.QueryerContext, runID int64, limit int) ([]Failure, error) {
	if limit <= 0 || limit > FailuresLimit {
		limit = FailuresLimit
	}
	out := []Failure{}
	if err := sqlx.SelectContext(ctx, db, &out, failuresQuery, runID, limit); err != nil {
		return nil, fmt.Errorf("failures of run %d: %w", runID, err)
	}
	for i := range out {
		out[i].At = out[i].At.UTC().Truncate(time.Second)
	}
	return out, nil
}

// RetryResult says what Retry did with a run's failed deliveries.
type RetryResult struct {
	// Queued is how many failed deliveries went back to pending.
	Queued int64
	// Skipped failed deliveries, by why they stay failed: the address
	// bounced hard (or the person's status is bounced), the person
	// unsubscribed, or the address is suppressed otherwise (suppression
	// list, forgotten).
	Bounced, Unsubscribed, Suppressed int64
	// Before and After are the run's state around the retry (done →
	// sending when something was queued; an active run keeps its state).
	Before, After string
}

// Skipped is how many failed deliveries Retry left failed.
func (r RetryResult) Skipped() int64 { return r.Bounced + r.Unsubscribed + r.Suppressed }

// retryQuery puts the run's failed deliveries whose person may still be
// mailed back to pending, as if never attempted: attempts 0, due now, no
// task carrying it (the reconciler enqueues it). The relay's last reply
// stays in smtp_reply until the next attempt replaces it. It returns the
// count per skip reason ("" = queued). Only rows in state failed are
// touched, under row locks, so a second retry never queues a delivery the
// first one queued unless it failed again.
var retryQuery = qRetry

// Retry sends the failed deliveries of run runID again, once (SPEC.md,
// campaign retry): those whose address did not bounce and whose person is
// still active and not suppressed go back to pending (the same rows: no
// delivery is created), the others stay failed and are counted by reason.
// A done run with something queued is reopened (state sending); an active
// run keeps sending. A paused or cancelled run returns an error wrapping
// ErrState (resume a paused run first; a cancelled run is never sent
// again); an unknown run wraps store.ErrNotFound.
func Retry(ctx context.Context, db *sqlx.DB, runID int64) (RetryResult, error) {
	var res RetryResult
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return res, fmt.Errorf("retry run %d: %w", runID, err)
	}
	defer tx.Rollback()
	// The run row lock orders this against FinishIfDone (see there).
	err = tx.GetContext(ctx, &res.Before, qLockRunState, runID)
	if errors.Is(err, sql.ErrNoRows) {
		return res, fmt.Errorf("retry run %d: %w", runID, store.ErrNotFound)
	}
	if err != nil {
		return res, fmt.Errorf("retry run %d: %w", runID, err)
	}
	res.After = res.Before
	switch res.Before {
	case StatePaused:
		return res, fmt.Errorf("retry run %d: the run is paused; resume it first: %w", runID, ErrState)
	case StateCancelled:
		return res, fmt.Errorf("retry run %d: the run was cancelled and is not sent again: %w", runID, ErrState)
	}
	rows, err := tx.QueryContext(ctx, retryQuery, runID)
	if err != nil {
		return res, fmt.Errorf("retry run %d: %w", runID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var skip string
		var n int64
		if err := rows.Scan(&skip, &n); err != nil {
			return res, fmt.Errorf("retry run %d: %w", runID, err)
		}
		switch skip {
		case "":
			res.Queued = n
		case "bounced":
			res.Bounced = n
		case "unsubscribed":
			res.Unsubscribed = n
		default:
			res.Suppressed = n
		}
	}
	if err := rows.Err(); err != nil {
		return res, fmt.Errorf("retry run %d: %w", runID, err)
	}
	if res.Queued > 0 && res.Before == StateDone {
		if _, err := tx.ExecContext(ctx, qReopen, runID); err != nil {
			return res, fmt.Errorf("retry run %d: reopen: %w", runID, err)
		}
		res.After = StateSending
	}
	if err := tx.Commit(); err != nil {
		return res, fmt.Errorf("retry run %d: %w", runID, err)
	}
	return res, nil
}
