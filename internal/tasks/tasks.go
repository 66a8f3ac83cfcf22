// Package tasks defines the Asynq tasks Kizuna puts on Redis: their type
// names, queues, payloads and TaskIDs, and an Enqueuer. A task carries
// delivery IDs only, never message content: Postgres is the truth and Redis
// only carries work, so a lost task is found again by the reconciler.
package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
)

// Task types.
const (
	// TypeSend sends a chunk of deliveries of one run.
	TypeSend = "kizuna:send"
)

// Queue names.
const (
	// QueueSend carries the deliveries of campaign sends (bulk).
	QueueSend = "kizuna-send"
	// QueueUrgent carries the mail a person is owed now: RSVP
	// confirmations, waiting-list and promotion notices, event reminders,
	// updates and cancellations. Workers serve it with goroutines of its
	// own, so none of it waits behind a bulk run's backlog.
	QueueUrgent = "kizuna-urgent"
)

// ChunkSize is how many deliveries one send task (one chunk) carries at
// most. At thousands of messages a second a task per recipient would spend
// more on Redis than on mail; a chunk is leased with one row, read in one
// statement and recorded in batches, while each delivery keeps its own
// state, retries and throttling. Each chunk costs a fixed amount (the Asynq
// dequeue and ack, the lease, the claim's read, the end of the lease): 400
// rather than 200 took a 100k run's worker CPU per message from about 57 to
// about 53 µs and Postgres's from about 42 to about 40 µs on a 2-core
// machine (issue 13), with 10k still ahead of the reference; 800 gained
// nothing more at 100k and cost at 10k (the last chunks leave goroutines
// idle).
const ChunkSize = 400

// TaskTimeout bounds one send task; the handler releases what it has not
// sent when it runs out.
const TaskTimeout = 10 * time.Minute

// MaxRetry is how often Asynq retries a send task whose handler failed
// (Postgres unreachable). Deliveries never depend on it: the reconciler
// finds any delivery whose task is gone.
const MaxRetry = 5

// Send is the payload of a TypeSend task: one chunk of deliveries of one
// run. Chunk is the chunk's id (deliveries.chunk_id, from the sequence
// delivery_chunks_seq), new each time deliveries are handed out; IDs are
// its deliveries (at most ChunkSize), which the claim reads through the
// primary key.
type Send struct {
	Run   int64   `json:"run"`
	Chunk int64   `json:"chunk"`
	IDs   []int64 `json:"ids"`
}

// TaskID is the Asynq TaskID of a send task, "send:<run>:c<chunk>":
// enqueueing the same chunk twice conflicts, and since chunk ids come from
// a sequence a TaskID is never reused, so a retained or archived task can
// never block a later hand-out.
func TaskID(run, chunk int64) string {
	return "send:" + strconv.FormatInt(run, 10) + ":c" + strconv.FormatInt(chunk, 10)
}

// ParseSend decodes a TypeSend payload; it fails without a run, a chunk
// or deliveries.
func ParseSend(payload []byte) (Send, error) {
	var s Send
	if err := json.Unmarshal(payload, &s); err != nil {
		return Send{}, fmt.Errorf("send task payload: %w", err)
	}
	if s.Run <= 0 || s.Chunk <= 0 || len(s.IDs) == 0 {
		return Send{}, errors.New("send task payload: no run, no chunk or no deliveries")
	}
	return s, nil
}

// Enqueuer puts send tasks on Redis.
type Enqueuer struct {
	client *asynq.Client
}

// NewEnqueuer wraps an Asynq client; the caller closes the client.
func NewEnqueuer(client *asynq.Client) *Enqueuer {
	return &Enqueuer{client: client}
}

// Chunk enqueues one send task for chunk of run carrying its deliveries
// ids (at most ChunkSize: the SQL that hands deliveries out makes the
// chunks), on QueueUrgent when urgent, else on QueueSend. A chunk whose
// TaskID is already queued is not an error: it is the same work.
func (e *Enqueuer) Chunk(ctx context.Context, run, chunk int64, ids []int64, urgent bool) error {
	if len(ids) == 0 {
		return nil
	}
	queue := QueueSend
	if urgent {
		queue = QueueUrgent
	}
	payload, err := json.Marshal(Send{Run: run, Chunk: chunk, IDs: ids})
	if err != nil {
		return fmt.Errorf("enqueue run %d chunk %d: %w", run, chunk, err)
	}
	_, err = e.client.EnqueueContext(ctx, asynq.NewTask(TypeSend, payload),
		asynq.Queue(queue), asynq.TaskID(TaskID(run, chunk)), asynq.MaxRetry(MaxRetry), asynq.Timeout(TaskTimeout))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueue run %d chunk %d (deliveries %d–%d): %w", run, chunk, ids[0], ids[len(ids)-1], err)
	}
	return nil
}

// EpochKey is a Redis key the reconciler sets and watches: when it is
// missing, Redis lost its data (FLUSHALL, a restart without persistence,
// eviction) and every queued task with it, so every queued delivery must be
// enqueued again at once.
const EpochKey = "kizuna:epoch"

// QueueKeys are the Redis keys in which asynq keeps the queues' tasks
// (waiting, scheduled, running, retrying); none exists when the queues are
// empty.
func QueueKeys() []string {
	var keys []string
	for _, q := range []string{QueueSend, QueueUrgent} {
		prefix := "asynq:{" + q + "}:"
		keys = append(keys, prefix+"pending", prefix+"scheduled", prefix+"active", prefix+"retry")
	}
	return keys
}
