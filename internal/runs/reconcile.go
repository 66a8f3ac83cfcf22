package runs

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/kizuna-alumni/kizuna/internal/tasks"
)

// Reconciliation keeps Postgres and the task queue in step (the worker's
// reconciler calls these verbs in order, one reconciler at a time).

// LockReconciler takes the advisory lock that lets one reconciler act at a
// time, on conn, a connection the caller keeps for the whole pass. ok is
// false when another reconciler holds it; unlock releases it.
func LockReconciler(ctx context.Context, conn *sqlx.Conn) (ok bool, unlock func(), err error) {
	if err := conn.GetContext(ctx, &ok, qReconcileLock); err != nil {
		return false, nil, fmt.Errorf("reconcile: lock: %w", err)
	}
	if !ok {
		return false, nil, nil
	}
	return true, func() { conn.ExecContext(context.WithoutCancel(ctx), qReconcileUnlock) }, nil
}

// ForgetTasks marks pending deliveries as carried by no task, so that
// PickDue hands them out again: all of them when Redis lost its data
// (all), or only the due ones whose task's slack ran out; never those of
// a chunk leased now (they are being sent). It returns how many it
// marked.
func ForgetTasks(ctx context.Context, db sqlx.ExecerContext, all bool) (int64, error) {
	q := qForgetStaleTasks
	if all {
		q = qForgetAllTasks
	}
	res, err := db.ExecContext(ctx, q)
	if err != nil {
		return 0, fmt.Errorf("reconcile: forget lost tasks: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// UnexpandedRuns returns the ids of the runs whose expansion has not
// finished (its expander died, or the run was paused while expanding).
func UnexpandedRuns(ctx context.Context, db sqlx.QueryerContext) ([]int64, error) {
	var ids []int64
	if err := sqlx.SelectContext(ctx, db, &ids, qUnexpandedRuns); err != nil {
		return nil, fmt.Errorf("reconcile: unexpanded runs: %w", err)
	}
	return ids, nil
}

// EndExpiredLeases deletes the expired chunk leases — of a worker that
// died or overran its lease holding a chunk, and the rows PickDue leaves —
// and hands the pending deliveries of those chunks back (queued_until
// NULL), so that PickDue puts them in new chunks at once, as the stale
// sweep would once their task's queue slack ran out. An expired lease and
// none are the same to a claim and to PickDue.
func EndExpiredLeases(ctx context.Context, db sqlx.ExecerContext) error {
	if _, err := db.ExecContext(ctx, qEndExpiredLeases); err != nil {
		return fmt.Errorf("reconcile: expired leases: %w", err)
	}
	return nil
}

// Due is a delivery handed out by PickDue, in a new chunk.
type Due struct {
	ID      int64  `db:"id"`
	Run     int64  `db:"run_id"`
	Chunk   int64  `db:"chunk_id"`
	RunKind string `db:"run_kind"`
}

// PickDue hands out up to limit due deliveries that no task carries, oldest
// due first: it marks them queued for slack and puts them in new chunks of
// at most tasks.ChunkSize per run, and returns them sorted by run, chunk
// and id. A delivery whose old chunk is leased now (being sent) is left
// where it is, even when a concurrent sweep marked it as carried by no
// task: the chunk's lease row decides between a claim and this.
func PickDue(ctx context.Context, db sqlx.QueryerContext, limit int, slack time.Duration) ([]Due, error) {
	var rows []Due
	if err := sqlx.SelectContext(ctx, db, &rows, qPickDue, limit, slack.Seconds(), tasks.ChunkSize); err != nil {
		return nil, fmt.Errorf("reconcile: pick due deliveries: %w", err)
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.Run != b.Run {
			return a.Run < b.Run
		}
		if a.Chunk != b.Chunk {
			return a.Chunk < b.Chunk
		}
		return a.ID < b.ID
	})
	return rows, nil
}

// MarkWaiting moves runs whose every remaining delivery is due only after
// the next minute to waiting, and waiting runs with due work back to
// sending.
func MarkWaiting(ctx context.Context, db sqlx.ExecerContext) error {
	if _, err := db.ExecContext(ctx, qMarkWaiting); err != nil {
		return fmt.Errorf("reconcile: waiting runs: %w", err)
	}
	return nil
}

// MaybeDone returns the ids of the expanded runs that are sending or
// waiting: FinishIfDone decides which are done.
func MaybeDone(ctx context.Context, db sqlx.QueryerContext) ([]int64, error) {
	var ids []int64
	if err := sqlx.SelectContext(ctx, db, &ids, qExpandedActiveRuns); err != nil {
		return nil, fmt.Errorf("reconcile: active runs: %w", err)
	}
	return ids, nil
}
