package runs

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/kizuna-alumni/kizuna/internal/tasks"
)

// QueueSlack is how long a delivery handed to a send task may wait in the
// queue before the reconciler assumes the task was lost and enqueues it
// again. A lost Redis is detected at once (see the reconciler); this only
// bounds rarer losses, and a task enqueued twice costs a claim, not a mail.
const QueueSlack = 60 * time.Second

// Enqueue hands one chunk of freshly handed-out deliveries of run to a
// send task: chunk is its id (deliveries.chunk_id), ids its deliveries (at
// most tasks.ChunkSize). run's ID and Kind are set; transactional kinds go
// ahead of bulk sends.
type Enqueue func(ctx context.Context, run Run, chunk int64, ids []int64) error

// EnqueueTasks is the Enqueue of an Asynq task enqueuer: deliveries of
// transactional runs (IsTransactional) go on the urgent queue.
func EnqueueTasks(e *tasks.Enqueuer) Enqueue {
	return func(ctx context.Context, run Run, chunk int64, ids []int64) error {
		return e.Chunk(ctx, run.ID, chunk, ids, IsTransactional(run.Kind))
	}
}

// chunked is deliveries in chunks: IDs[i] is in chunk Chunks[i], grouped
// by chunk (as qtExpandSlice and qInsertNotices return them).
type chunked struct {
	IDs, Chunks []int64
}

// each calls f with each chunk and its deliveries, in order, and stops at
// the first error, which it returns with the ids of that chunk and of the
// chunks after it (the ones no task carries).
func (c chunked) each(f func(chunk int64, ids []int64) error) (rest []int64, err error) {
	for start := 0; start < len(c.IDs); {
		end := start + 1
		for end < len(c.IDs) && c.Chunks[end] == c.Chunks[start] {
			end++
		}
		if err := f(c.Chunks[start], c.IDs[start:end]); err != nil {
			return c.IDs[start:], err
		}
		start = end
	}
	return nil, nil
}

// enqueueChunks hands each chunk of c to enqueue; when enqueue fails, the
// deliveries no task carries are given back to the reconciler (which
// enqueues them within seconds) and the error is returned.
func enqueueChunks(ctx context.Context, db sqlx.ExecerContext, enqueue Enqueue, run Run, c chunked) error {
	rest, err := c.each(func(chunk int64, ids []int64) error { return enqueue(ctx, run, chunk, ids) })
	if err == nil {
		return nil
	}
	if err2 := Unqueue(context.WithoutCancel(ctx), db, rest); err2 != nil {
		return fmt.Errorf("%w (and release: %v)", err, err2)
	}
	return err
}

// Chunk sizes of an expansion: the first chunk is small so that sending
// starts at once; later ones are larger so the whole audience is written
// in few statements.
const (
	firstChunk = 2000
	maxChunk   = 20000
)

// Expand writes one delivery per recipient of the run, set-based (the
// audience, consent and suppression compiled into SQL; reminders go to
// those who answered yes), then moves the run to sending. It is
// idempotent and resumable: an interrupted expansion continues where its
// last committed chunk ended. It returns the run's delivery count. The
// deliveries are left for the reconciler to enqueue; ExpandEach enqueues
// them as they are written.
func Expand(ctx context.Context, db *sqlx.DB, runID int64) (int64, error) {
	n, _, err := expand(ctx, db, runID, nil, true)
	return n, err
}

// ExpandEach is Expand handing each committed chunk of new deliveries to
// enqueue, so that workers send while the rest is still being written.
func ExpandEach(ctx context.Context, db *sqlx.DB, runID int64, enqueue Enqueue) (int64, error) {
	n, _, err := expand(ctx, db, runID, enqueue, true)
	return n, err
}

// TryExpand is ExpandEach for the reconciler: when another process is
// expanding the run right now, it returns at once with ran=false.
func TryExpand(ctx context.Context, db *sqlx.DB, runID int64, enqueue Enqueue) (n int64, ran bool, err error) {
	return expand(ctx, db, runID, enqueue, false)
}

func expand(ctx context.Context, db *sqlx.DB, runID int64, enqueue Enqueue, wait bool) (int64, bool, error) {
	conn, err := db.Connx(ctx)
	if err != nil {
		return 0, false, fmt.Errorf("expand run %d: %w", runID, err)
	}
	defer conn.Close()
	// One expander per run at a time: a second one would only collide on
	// the unique (run, alumnus) key, but it would double the work.
	lockKey := "kizuna-expand:" + fmt.Sprint(runID)
	if wait {
		if _, err := conn.ExecContext(ctx, qExpansionLock, lockKey); err != nil {
			return 0, false, fmt.Errorf("expand run %d: lock: %w", runID, err)
		}
	} else {
		var ok bool
		if err := conn.GetContext(ctx, &ok, qExpansionTryLock, lockKey); err != nil {
			return 0, false, fmt.Errorf("expand run %d: lock: %w", runID, err)
		}
		if !ok {
			return 0, false, nil
		}
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), qExpansionUnlock, lockKey)

	r, err := Get(ctx, conn, runID)
	if err != nil {
		return 0, false, fmt.Errorf("expand: %w", err)
	}
	if r.ExpandedAt == nil && r.State != StateCancelled {
		if err := expandChunks(ctx, conn, r, enqueue); err != nil {
			return 0, true, err
		}
	}
	var total int64
	if err := conn.GetContext(ctx, &total, qDeliveryCount, runID); err != nil {
		return 0, true, fmt.Errorf("expand run %d: count: %w", runID, err)
	}
	return total, true, nil
}

func expandChunks(ctx context.Context, conn *sqlx.Conn, r Run, enqueue Enqueue) error {
	c, err := LoadVersion(ctx, conn, r.VersionID)
	if err != nil {
		return fmt.Errorf("expand run %d: %w", r.ID, err)
	}
	// Parameters: $1 run, $2 cursor (last alumni id done), $3 slice size,
	// $4 queue slack, $5 the size of a task's chunk; the audience's own
	// start at $6.
	var filter string
	var args []any
	switch r.Kind {
	case KindReminder:
		filter, args = rsvpFilterGuests, []any{c.ID}
	case KindUpdate, KindCancellation:
		filter, args = rsvpFilterInterested, []any{c.ID}
	default:
		filter, args = AudienceFilter(c.Audience, 6)
	}
	query := fmt.Sprintf(qtExpandSlice, filter)

	// Resume after the last alumnus already written: chunks commit in
	// alumni id order, so every recipient up to it has its delivery.
	var cursor int64
	if err := conn.GetContext(ctx, &cursor, qExpansionCursor, r.ID); err != nil {
		return fmt.Errorf("expand run %d: %w", r.ID, err)
	}
	if cursor > 0 {
		// An earlier expander died; the deliveries it wrote may never have
		// reached a task. Let the reconciler enqueue them now.
		if _, err := conn.ExecContext(ctx, qUnqueueRun, r.ID); err != nil {
			return fmt.Errorf("expand run %d: %w", r.ID, err)
		}
	}
	slack := 0.0
	if enqueue != nil {
		slack = QueueSlack.Seconds()
	}
	size := firstChunk
	for {
		var next sql.NullInt64
		var c chunked
		all := append([]any{r.ID, cursor, size, slack, tasks.ChunkSize}, args...)
		if err := conn.QueryRowxContext(ctx, query, all...).Scan(&next, (*pq.Int64Array)(&c.IDs), (*pq.Int64Array)(&c.Chunks)); err != nil {
			return fmt.Errorf("expand run %d after alumnus %d: %w", r.ID, cursor, err)
		}
		if len(c.IDs) > 0 && enqueue != nil {
			// The deliveries are written; those without a task are the
			// reconciler's once they are given back.
			if err := enqueueChunks(ctx, conn, enqueue, r, c); err != nil {
				return fmt.Errorf("expand run %d: enqueue: %w", r.ID, err)
			}
		}
		if !next.Valid {
			break
		}
		cursor = next.Int64
		if size < maxChunk {
			size *= 2
		}
	}
	if _, err := conn.ExecContext(ctx, qExpanded, r.ID); err != nil {
		return fmt.Errorf("expand run %d: finish: %w", r.ID, err)
	}
	return nil
}
