package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/kizuna-alumni/kizuna/internal/groupcommit"
	"github.com/kizuna-alumni/kizuna/internal/roster"
	"github.com/kizuna-alumni/kizuna/internal/runs"
)

// result is what became of one claimed delivery, on its way to the
// recorder; build it with the constructors below.
type result struct {
	runs.Result
	bounce bool   // a hard bounce: suppress the address
	email  string // the address to suppress
}

// sent: the relay accepted the message.
func sent(d runs.Claimed, messageID, reply string) result {
	return result{Result: runs.Result{ID: d.ID, Chunk: d.Chunk, State: runs.DeliverySent, MessageID: messageID, Reply: reply}}
}

// failed: the relay refused the message for good, or its attempts ran out.
func failed(d runs.Claimed, reply string) result {
	return result{Result: runs.Result{ID: d.ID, Chunk: d.Chunk, State: runs.DeliveryFailed, Reply: reply}}
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
	return result{Result: runs.Result{ID: d.ID, Chunk: d.Chunk, State: runs.DeliverySuppressed, Reply: why, Uncharged: true}}
}

// retryLater: a temporary failure; the attempt counts and the delivery is
// due again at at.
func retryLater(d runs.Claimed, reply string, at time.Time) result {
	return result{Result: runs.Result{ID: d.ID, Chunk: d.Chunk, State: runs.DeliveryPending, Reply: reply, NotBefore: at}}
}

// released: given back untried, without using an attempt, due again at at
// (zero: when it was due).
func released(d runs.Claimed, at time.Time) result {
	return result{Result: runs.Result{ID: d.ID, Chunk: d.Chunk, State: runs.DeliveryPending, NotBefore: at, Uncharged: true}}
}

// recorder writes results to Postgres in group commits (internal/groupcommit):
// whatever results arrived while the previous commit ran go into the next
// one. An idle worker therefore records each message a single commit after
// the relay accepts it — a small batch waits at most 5 ms for more, so the
// duplicate window stays tiny — and a busy one records hundreds per commit.
// A failed commit is tried again (4 tries over about 2 s): a lost record
// means a duplicate later.
type recorder = groupcommit.Committer[result]

func newRecorder(db *sqlx.DB, st *runs.SendStatements, log *slog.Logger) *recorder {
	return groupcommit.New(groupcommit.Config[result]{
		Flush: func(ctx context.Context, batch []result) error { return flushResults(ctx, db, st, batch) },
		Log:   log, What: "recording deliveries",
	})
}

// flush records batch: one statement in the common case, one transaction
// with the suppressions and bounce events when the batch has hard bounces.
func flushResults(ctx context.Context, db *sqlx.DB, st *runs.SendStatements, batch []result) error {
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
		return st.Record(ctx, nil, results)
	}
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record deliveries: %w", err)
	}
	defer tx.Rollback()
	if err := st.Record(ctx, tx, results); err != nil {
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
// recorded: Asynq retries the task, whose claim finds what is left once
// the chunk's lease (kept, not ended) has expired.
var errRecord = errors.New("results not recorded")
