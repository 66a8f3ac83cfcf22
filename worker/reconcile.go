package worker

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/lib/pq"
	"github.com/redis/go-redis/v9"

	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/tasks"
)

// reconcileLockKey is the advisory lock that lets one reconciler act at a
// time, whichever worker it runs in ("kizuna-reconcile").
const reconcileLockKey = 0x6b7a7265636f6e

// reconcileBatch bounds how many deliveries one pass hands out.
const reconcileBatch = 20000

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
// whose time came, released ones, those of a lost Redis) and those whose
// worker died holding them, and marks finished runs done. Any number of
// workers may call it; one acts at a time. stale also sweeps deliveries
// whose task vanished while Redis kept its data.
func (w *Worker) Reconcile(ctx context.Context, stale bool) error {
	conn, err := w.db.Connx(ctx)
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	defer conn.Close()
	var ok bool
	if err := conn.GetContext(ctx, &ok, `SELECT pg_try_advisory_lock($1)`, reconcileLockKey); err != nil {
		return fmt.Errorf("reconcile: lock: %w", err)
	}
	if !ok {
		return nil
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, reconcileLockKey)

	// 1. Did Redis lose its data? Then no queued task survives.
	lost, err := w.redisLost(ctx)
	if err != nil {
		return err
	}
	if lost || stale {
		// Only due deliveries matter (those not due get a task when they
		// are), which also lets the partial index on not_before serve.
		cond := `queued_until < now() AND not_before <= now()`
		if lost {
			cond = `queued_until IS NOT NULL`
		}
		res, err := conn.ExecContext(ctx, `UPDATE deliveries SET queued_until = NULL WHERE state = 'pending' AND `+cond)
		if err != nil {
			return fmt.Errorf("reconcile: %w", err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			if lost {
				w.log.Warn("Redis holds no record of earlier send tasks (first start, FLUSHALL, or a restart without persistence); enqueueing pending deliveries again", "deliveries", n)
			} else {
				w.log.Warn("send tasks went missing; enqueueing their deliveries again", "deliveries", n)
			}
		}
		if lost {
			if err := w.rdb.Set(ctx, tasks.EpochKey, strconv.FormatInt(time.Now().Unix(), 10), 0).Err(); err != nil {
				return fmt.Errorf("reconcile: %w", err)
			}
		}
	}

	// 2. Finish expansions whose expander died.
	var expanding []int64
	if err := conn.SelectContext(ctx, &expanding, `SELECT id FROM runs WHERE expanded_at IS NULL AND state IN ('expanding', 'paused') ORDER BY id`); err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	for _, id := range expanding {
		n, ran, err := runs.TryExpand(ctx, w.db, id, w.enq.Expanded)
		if err != nil {
			w.log.Warn("could not finish the expansion of a run", "run_id", id, "err", err)
			continue
		}
		if ran {
			w.log.Info("finished an interrupted expansion", "run_id", id, "deliveries", n)
		}
	}

	// 3. Deliveries whose worker died holding them go back to pending.
	if _, err := conn.ExecContext(ctx, `
		UPDATE deliveries d SET state = CASE WHEN r.state = 'cancelled' THEN 'cancelled' ELSE 'pending' END,
			lease_until = NULL, queued_until = NULL, updated_at = now()
		FROM runs r
		WHERE d.state = 'sending' AND d.lease_until < now() AND r.id = d.run_id`); err != nil {
		return fmt.Errorf("reconcile: expired leases: %w", err)
	}

	// 4. Enqueue every due delivery that no task carries.
	type row struct {
		ID  int64 `db:"id"`
		Run int64 `db:"run_id"`
	}
	for {
		var rows []row
		if err := conn.SelectContext(ctx, &rows, `
			WITH picked AS (
				SELECT d.id FROM deliveries d
				WHERE d.state = 'pending' AND d.queued_until IS NULL AND d.not_before <= now()
				  AND EXISTS (SELECT 1 FROM runs r WHERE r.id = d.run_id AND r.state IN ('expanding', 'sending', 'waiting'))
				ORDER BY d.not_before
				LIMIT $1
				FOR UPDATE OF d SKIP LOCKED
			)
			UPDATE deliveries d SET queued_until = now() + make_interval(secs => $2::float8)
			FROM picked WHERE d.id = picked.id
			RETURNING d.id, d.run_id`, reconcileBatch, runs.QueueSlack.Seconds()); err != nil {
			return fmt.Errorf("reconcile: pick due deliveries: %w", err)
		}
		if len(rows) == 0 {
			break
		}
		byRun := map[int64][]int64{}
		for _, r := range rows {
			byRun[r.Run] = append(byRun[r.Run], r.ID)
		}
		gen := "r" + strconv.FormatInt(time.Now().UnixNano(), 36)
		for run, ids := range byRun {
			sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
			if err := w.enq.Deliveries(ctx, run, ids, gen, time.Time{}); err != nil {
				conn.ExecContext(context.WithoutCancel(ctx), `UPDATE deliveries SET queued_until = NULL WHERE id = ANY($1) AND state = 'pending'`, pq.Int64Array(ids))
				return fmt.Errorf("reconcile: %w", err)
			}
		}
		w.log.Debug("enqueued due deliveries", "count", len(rows))
		if len(rows) < reconcileBatch {
			break
		}
	}

	// 5. A run whose every remaining delivery waits for its window (or a
	// long throttle) shows as waiting, and as sending again once some are
	// due within the minute. Its next due time is one probe of
	// deliveries_open_idx (run_id, not_before) per active run.
	if _, err := conn.ExecContext(ctx, `
		UPDATE runs r SET state = CASE r.state WHEN 'sending' THEN 'waiting' ELSE 'sending' END
		FROM (
			SELECT x.id AS run_id,
				(SELECT min(d.not_before) FROM deliveries d WHERE d.run_id = x.id AND d.state IN ('pending', 'sending')) AS next
			FROM runs x
			WHERE x.state IN ('sending', 'waiting') AND x.expanded_at IS NOT NULL
		) o
		WHERE r.id = o.run_id AND (
			(r.state = 'sending' AND o.next > now() + interval '1 minute') OR
			(r.state = 'waiting' AND o.next <= now() + interval '1 minute'))`); err != nil {
		return fmt.Errorf("reconcile: waiting runs: %w", err)
	}

	// 6. Mark runs done whose last delivery was recorded.
	var active []int64
	if err := conn.SelectContext(ctx, &active, `SELECT id FROM runs WHERE state IN ('sending', 'waiting') AND expanded_at IS NOT NULL`); err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	for _, id := range active {
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
