package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/kizuna-alumni/kizuna/internal/store"
)

// Delivery states a result moves a delivery to.
const (
	stateSent       = "sent"
	stateFailed     = "failed"
	stateSuppressed = "suppressed"
	statePending    = "pending" // a retry later, or released untouched
)

// result is what became of one claimed delivery.
type result struct {
	id        int64
	alumni    int64
	state     string
	messageID string
	reply     string
	notBefore time.Time // when state is pending
	// attempts corrects the count the claim raised: -1 when the delivery
	// was released without an attempt (throttle, window, pause, shutdown).
	attempts int
	bounce   bool   // a hard bounce: suppress the address
	email    string // for the suppression hash
	ack      chan error
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
	var err error
	for i, wait := 0, 100*time.Millisecond; i < 4; i, wait = i+1, wait*4 {
		if err = rc.flush(batch); err == nil {
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

const recordSQL = `
UPDATE deliveries d SET
	state = v.state,
	message_id = coalesce(nullif(v.message_id, ''), d.message_id),
	smtp_reply = v.reply,
	sent_at = CASE WHEN v.state = 'sent' THEN now() ELSE d.sent_at END,
	not_before = coalesce(nullif(v.not_before, '')::timestamptz, d.not_before),
	attempts = greatest(d.attempts + v.attempts, 0),
	lease_until = NULL,
	queued_until = NULL,
	updated_at = now()
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[])
	AS v(id, state, message_id, reply, not_before, attempts)
WHERE d.id = v.id
  AND (d.state = 'sending' OR (v.state = 'sent' AND d.state <> 'sent'))`

// flush records batch in one transaction. A "sent" result is recorded
// whatever state the delivery reached meanwhile (the relay took the
// message: that is the truth); other results only while the delivery is
// still claimed.
func (rc *recorder) flush(batch []result) error {
	sort.Slice(batch, func(i, j int) bool { return batch[i].id < batch[j].id })
	n := len(batch)
	ids := make([]int64, n)
	states := make([]string, n)
	mids := make([]string, n)
	replies := make([]string, n)
	nbs := make([]string, n)
	atts := make([]int64, n)
	var bounced []int64
	var hashes [][]byte
	var bounceIDs []int64
	var bounceReplies []string
	for i, r := range batch {
		ids[i], states[i], mids[i], replies[i], atts[i] = r.id, r.state, r.messageID, truncate(r.reply, 1000), int64(r.attempts)
		if !r.notBefore.IsZero() {
			nbs[i] = r.notBefore.UTC().Format(time.RFC3339Nano)
		}
		if r.bounce {
			bounced = append(bounced, r.alumni)
			hashes = append(hashes, store.HashEmail(r.email))
			bounceIDs = append(bounceIDs, r.id)
			bounceReplies = append(bounceReplies, truncate(r.reply, 1000))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if len(bounced) == 0 {
		// The common case is one statement: no transaction round trips.
		if _, err := rc.db.ExecContext(ctx, recordSQL, pq.Int64Array(ids), pq.StringArray(states), pq.StringArray(mids),
			pq.StringArray(replies), pq.StringArray(nbs), pq.Int64Array(atts)); err != nil {
			return fmt.Errorf("record deliveries: %w", err)
		}
		return nil
	}
	tx, err := rc.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record deliveries: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, recordSQL, pq.Int64Array(ids), pq.StringArray(states), pq.StringArray(mids),
		pq.StringArray(replies), pq.StringArray(nbs), pq.Int64Array(atts)); err != nil {
		return fmt.Errorf("record deliveries: %w", err)
	}
	{
		// 5.1.1-type rejections: the address does not exist. Never mail it
		// again, in any campaign.
		if _, err := tx.ExecContext(ctx, `UPDATE alumni SET status = 'bounced', status_changed_at = now(), updated_at = now()
			WHERE id = ANY($1) AND status = 'active'`, pq.Int64Array(bounced)); err != nil {
			return fmt.Errorf("record bounces: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO suppressions (email_hash, reason)
			SELECT h, 'bounced' FROM unnest($1::bytea[]) h ON CONFLICT (email_hash) DO NOTHING`, pq.ByteaArray(hashes)); err != nil {
			return fmt.Errorf("record bounces: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO delivery_events (delivery_id, kind, classification, detail)
			SELECT id, 'bounce', 'smtp', jsonb_build_object('smtp_reply', reply, 'type', 'hard')
			FROM unnest($1::bigint[], $2::text[]) AS b(id, reply)`, pq.Int64Array(bounceIDs), pq.StringArray(bounceReplies)); err != nil {
			return fmt.Errorf("record bounces: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record deliveries: %w", err)
	}
	return nil
}

// errRecord is what a handler returns when its results could not be
// recorded: Asynq retries the task, and the claim finds what is left.
var errRecord = errors.New("results not recorded")

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
