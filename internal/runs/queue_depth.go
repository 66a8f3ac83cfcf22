package runs

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// QueueDepth returns how many deliveries are due and not yet sent: pending
// or being sent, not held back (not_before has passed), in runs that may
// send (expanding, sending, waiting). It is Prometheus's
// kizuna_queue_depth, read from Postgres — the truth — rather than from
// Asynq's queues, whose tasks carry chunks of deliveries and may be lost
// with Redis.
func QueueDepth(ctx context.Context, db sqlx.QueryerContext) (int64, error) {
	var n int64
	if err := sqlx.GetContext(ctx, db, &n, qQueueDepth); err != nil {
		return 0, fmt.Errorf("queue depth: %w", err)
	}
	return n, nil
}
