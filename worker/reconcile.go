package worker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"

	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/tasks"
)

// staleEvery is how often a pass also looks for deliveries whose task
// vanished without Redis losing its data.
const staleEvery = 30 * time.Second

func (w *Worker) reconcileLoop(ctx context.Context) {
	t := time.NewTicker(w.opt.ReconcileEvery)
	defer t.Stop()
	var lastStale time.Time
	for {
		stale := time.Since(lastStale) > staleEvery
		if err := w.Reconcile(ctx, stale); err != nil && ctx.Err() == nil {
			// A Redis that does not answer is the monitor's to report (the
			// ping says it at once); any other failure is said at most once
			// a minute.
			w.mon.Check(ctx)
			if ok, dropped := w.mon.Allow("reconcile", true); ok {
				attrs := []any{"err", err}
				if dropped > 0 {
					attrs = append(attrs, "failures_left_out", dropped)
				}
				w.log.Warn("reconcile failed", attrs...)
			}
		} else if stale {
			lastStale = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Reconcile makes Redis carry every delivery that is due: it finishes
// interrupted expansions, re-enqueues deliveries no task carries (retries
// whose time came, released ones, those of a lost Redis, those whose
// worker died holding their chunk, and with stale those whose task
// vanished), and marks finished runs done. Any number of
// workers may call it; one acts at a time. stale also sweeps deliveries
// whose task vanished while Redis kept its data.
func (w *Worker) Reconcile(ctx context.Context, stale bool) error {
	conn, err := w.db.Connx(ctx)
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	defer conn.Close()
	ok, unlock, err := runs.LockReconciler(ctx, conn)
	if err != nil || !ok {
		return err
	}
	defer unlock()
	steps := []func(context.Context, *sqlx.Conn) error{
		func(ctx context.Context, conn *sqlx.Conn) error { return w.resetLostTasks(ctx, conn, stale) },
		w.finishExpansions,
		w.endExpiredLeases,
		w.enqueueDue,
		w.markWaiting,
		w.finishRuns,
	}
	for _, step := range steps {
		if err := step(ctx, conn); err != nil {
			return err
		}
	}
	return nil
}

// resetLostTasks marks the deliveries whose task is gone as carried by
// none: all queued ones when Redis lost its data, and with stale the due
// ones whose task's slack ran out.
func (w *Worker) resetLostTasks(ctx context.Context, conn *sqlx.Conn, stale bool) error {
	lost, err := w.redisLost(ctx)
	if err != nil {
		return err
	}
	if !lost && !stale {
		return nil
	}
	n, err := runs.ForgetTasks(ctx, conn, lost)
	if err != nil {
		return err
	}
	switch {
	case n > 0 && lost:
		w.log.Warn("Redis holds no record of earlier send tasks (first start, FLUSHALL, or a restart without persistence); enqueueing pending deliveries again", "deliveries", n)
	case n > 0:
		w.log.Warn("send tasks went missing; enqueueing their deliveries again", "deliveries", n)
	}
	if lost {
		if err := w.rdb.Set(ctx, tasks.EpochKey, strconv.FormatInt(time.Now().Unix(), 10), 0).Err(); err != nil {
			return fmt.Errorf("reconcile: %w", err)
		}
	}
	return nil
}

// finishExpansions expands the runs whose expander died.
func (w *Worker) finishExpansions(ctx context.Context, conn *sqlx.Conn) error {
	ids, err := runs.UnexpandedRuns(ctx, conn)
	if err != nil {
		return err
	}
	for _, id := range ids {
		n, ran, err := runs.TryExpand(ctx, w.db, id, runs.EnqueueTasks(w.enq))
		if err != nil {
			w.log.Warn("could not finish the expansion of a run", "run_id", id, "err", err)
			continue
		}
		if ran {
			w.log.Info("finished an interrupted expansion", "run_id", id, "deliveries", n)
		}
	}
	return nil
}

// endExpiredLeases hands out again the deliveries of chunks whose worker
// died holding them.
func (w *Worker) endExpiredLeases(ctx context.Context, conn *sqlx.Conn) error {
	return runs.EndExpiredLeases(ctx, conn)
}

// reconcileBatch bounds how many deliveries one query hands out.
const reconcileBatch = 20000

// enqueueDue enqueues every due delivery that no task carries, one send
// task per chunk PickDue made.
func (w *Worker) enqueueDue(ctx context.Context, conn *sqlx.Conn) error {
	for {
		due, err := runs.PickDue(ctx, conn, reconcileBatch, runs.QueueSlack)
		if err != nil || len(due) == 0 {
			return err
		}
		// due is sorted by run, chunk and id: one task per chunk.
		for start := 0; start < len(due); {
			end := start + 1
			for end < len(due) && due[end].Chunk == due[start].Chunk {
				end++
			}
			d := due[start]
			ids := make([]int64, end-start)
			for i := range ids {
				ids[i] = due[start+i].ID
			}
			if err := w.enq.Chunk(ctx, d.Run, d.Chunk, ids, runs.IsTransactional(d.RunKind)); err != nil {
				// They were marked queued: hand back this chunk and the
				// ones after it.
				rest := make([]int64, 0, len(due)-start)
				for _, r := range due[start:] {
					rest = append(rest, r.ID)
				}
				runs.Unqueue(context.WithoutCancel(ctx), conn, rest)
				return fmt.Errorf("reconcile: %w", err)
			}
			start = end
		}
		w.log.Debug("enqueued due deliveries", "count", len(due))
		if len(due) < reconcileBatch {
			return nil
		}
	}
}

// markWaiting shows runs whose deliveries all wait (send window, a long
// throttle) as waiting, and as sending again once work is due.
func (w *Worker) markWaiting(ctx context.Context, conn *sqlx.Conn) error {
	return runs.MarkWaiting(ctx, conn)
}

// finishRuns marks runs done whose last delivery was recorded.
func (w *Worker) finishRuns(ctx context.Context, conn *sqlx.Conn) error {
	ids, err := runs.MaybeDone(ctx, conn)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if done, err := runs.FinishIfDone(ctx, conn, id); err != nil {
			return err
		} else if done {
			w.log.Info("run done", "run_id", id)
		}
	}
	return nil
}

// redisLost reports whether Redis lost its data since the last pass: the
// epoch key this reconciler sets is gone and no send task is queued either.
// A missing key beside queued tasks is a Redis that never saw a reconciler
// (the first start after campaign start enqueued work): the key is set then,
// and nothing is enqueued again.
func (w *Worker) redisLost(ctx context.Context) (bool, error) {
	err := w.rdb.Get(ctx, tasks.EpochKey).Err()
	if err == nil {
		return false, nil
	}
	if !errors.Is(err, redis.Nil) {
		return false, fmt.Errorf("reconcile: read %s: %w", tasks.EpochKey, err)
	}
	queued, err := w.rdb.Exists(ctx, tasks.QueueKeys()...).Result()
	if err != nil {
		return false, fmt.Errorf("reconcile: %w", err)
	}
	if queued == 0 {
		return true, nil
	}
	if err := w.rdb.SetNX(ctx, tasks.EpochKey, strconv.FormatInt(time.Now().Unix(), 10), 0).Err(); err != nil {
		return false, fmt.Errorf("reconcile: %w", err)
	}
	return false, nil
}
