package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/kizuna-alumni/kizuna/internal/roster"
	"github.com/kizuna-alumni/kizuna/internal/runs"
)

// result is what became of one claimed delivery, on its way to the
// recorder; build it with the constructors below.
type result struct {
	runs.Result
	bounce bool   // a hard bounce: suppress the address
	email  string // the address to suppress
	ack    chan error
}

// sent: the relay accepted the message.
func sent(d runs.Claimed, messageID, reply string) result {
	return result{Result: runs.Result{ID: d.ID, State: runs.DeliverySent, MessageID: messageID, Reply: reply}}
}

// failed: the relay refused the message for good, or its attempts ran out.
func failed(d runs.Claimed, reply string) result {
	return result{Result: runs.Result{ID: d.ID, State: runs.DeliveryFailed, Reply: reply}}
}

// bounced: the address does not exist; the delivery fails and the
// address is suppressed.
func bounced(d runs.Claimed, reply string) result {
	r := failed(d, reply)
	r.bounce, r.email = true, d.Email.String
	return r
}

// suppressed: the person cannot be mailed (unsubscribed, bounced,
// forgotten, on the suppression list); no attempt is counted.
func suppressed(d runs.Claimed, why string) result {
	return result{Result: runs.Result{ID: d.ID, State: runs.DeliverySuppressed, Reply: why, Uncharged: true}}
}

// retryLater: a temporary failure; the attempt counts and the delivery is
// due again at at.
func retryLater(d runs.Claimed, reply string, at time.Time) result {
	return result{Result: runs.Result{ID: d.ID, State: runs.DeliveryPending, Reply: reply, NotBefore: at}}
}

// released: given back untried, without using an attempt, due again at at
// (zero: when it was due).
func released(d runs.Claimed, at time.Time) result {
	return result{Result: runs.Result{ID: d.ID, State: runs.DeliveryPending, NotBefore: at, Uncharged: true}}
}

// recorder writes results to Postgres in group commits: whatever results
// arrived while the previous commit ran go into the next one. An idle
// worker therefore records each message a single commit after the relay
// accepts it (the duplicate window stays tiny), and a busy one records
// hundreds per commit.
type recorder struct {
	db   *sqlx.DB
	log  *slog.Logger
	in   chan result
	done chan struct{}
}

// maxBatch bounds one commit.
const maxBatch = 1000

func newRecorder(db *sqlx.DB, log *slog.Logger) *recorder {
	return &recorder{db: db, log: log, in: make(chan result, 4096), done: make(chan struct{})}
}

// submit queues r; r.ack receives the outcome of its commit.
func (rc *recorder) submit(r result) {
	select {
	case rc.in <- r:
	case <-rc.done:
		// The recorder has stopped (a handler outlived the shutdown):
		// record this one directly.
		r.ack <- rc.flush([]result{r})
	}
}

// loop commits batches until ctx is cancelled, then drains what is queued.
func (rc *recorder) loop(ctx context.Context) {
	defer close(rc.done)
	batch := make([]result, 0, maxBatch)
	for {
		batch = batch[:0]
		select {
		case r := <-rc.in:
			batch = append(batch, r)
		case <-ctx.Done():
			for {
				select {
				case r := <-rc.in:
					batch = append(batch, r)
					if len(batch) == maxBatch {
						rc.commit(batch)
						batch = batch[:0]
					}
				default:
					rc.commit(batch)
					return
				}
			}
		}
		batch = rc.gather(ctx, batch)
		rc.commit(batch)
	}
}

// Group commit: a commit costs Postgres about as much for one row as for
// dozens (parse, plan, WAL flush), so a small batch waits up to
// recordLinger for more results before it is written. That lengthens the
// "accepted, not yet recorded" window by at most recordLinger, and only
// while results trickle in; a busy worker fills lingerBatch at once.
const (
	recordLinger = 5 * time.Millisecond
	lingerBatch  = 64
)

// gather adds what is queued to batch, waiting up to recordLinger after
// the first result while the batch is smaller than lingerBatch.
func (rc *recorder) gather(ctx context.Context, batch []result) []result {
	var deadline <-chan time.Time
	for len(batch) < maxBatch {
		select {
		case r := <-rc.in:
			batch = append(batch, r)
			continue
		default:
		}
		if len(batch) >= lingerBatch {
			return batch
		}
		if deadline == nil {
			t := time.NewTimer(recordLinger)
			defer t.Stop()
			deadline = t.C
		}
		select {
		case r := <-rc.in:
			batch = append(batch, r)
		case <-deadline:
			return batch
		case <-ctx.Done():
			return batch
		}
	}
	return batch
}

// commit flushes batch, retrying briefly (a lost record means a duplicate
// later), and acknowledges every result.
func (rc *recorder) commit(batch []result) {
	if len(batch) == 0 {
		return
	}
	const tries = 4
	var err error
	for i, wait := 1, 100*time.Millisecond; ; i, wait = i+1, wait*4 {
		if err = rc.flush(batch); err == nil || i == tries {
			break
		}
		rc.log.Warn("recording deliveries failed; retrying", "count", len(batch), "err", err)
		time.Sleep(wait)
	}
	if err != nil {
		rc.log.Error("recording deliveries failed", "count", len(batch), "err", err)
	}
	for _, r := range batch {
		r.ack <- err
	}
}

// flush records batch: one statement in the common case, one transaction
// with the suppressions and bounce events when the batch has hard bounces.
func (rc *recorder) flush(batch []result) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	results := make([]runs.Result, len(batch))
	var emails, replies []string
	var ids []int64
	for i, r := range batch {
		results[i] = r.Result
		if r.bounce {
			emails = append(emails, r.email)
			ids = append(ids, r.ID)
			replies = append(replies, r.Reply)
		}
	}
	if len(ids) == 0 {
		return runs.Record(ctx, rc.db, results)
	}
	tx, err := rc.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record deliveries: %w", err)
	}
	defer tx.Rollback()
	if err := runs.Record(ctx, tx, results); err != nil {
		return err
	}
	// 5.1.1-type rejections: the address does not exist. Never mail it
	// again, in any campaign.
	if err := roster.Suppress(ctx, tx, roster.SuppressBounced, emails); err != nil {
		return err
	}
	if err := runs.RecordBounces(ctx, tx, ids, replies); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record deliveries: %w", err)
	}
	return nil
}

// errRecord is what a handler returns when its results could not be
// recorded: Asynq retries the task, and the claim finds what is left.
var errRecord = errors.New("results not recorded")
