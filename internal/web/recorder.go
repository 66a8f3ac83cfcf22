package web

import (
	"context"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/kizuna-alumni/kizuna/internal/runs"
)

// eventRecorder writes opens and clicks to Postgres in group commits, as
// the worker's recorder does (worker/recorder.go): whatever events arrive
// while one commit runs go into the next, so a busy server writes hundreds
// of events per statement and an idle one each event at once. A handler
// submits its event and waits for the commit: a request is answered only
// once its event is durable.
type eventRecorder struct {
	db   *sqlx.DB
	log  *slog.Logger
	in   chan trackPending
	done chan struct{}
	// flush writes a batch (runs.RecordEvents; tests may replace it).
	flush func(ctx context.Context, events []runs.Event) error
}

// trackPending is a submitted event and where its commit's outcome goes.
type trackPending struct {
	ev  runs.Event
	ack chan error
}

// Group commit sizes: at most trackMaxBatch events a statement; a batch
// smaller than trackLingerBatch waits up to trackLinger for more (while
// events only trickle in, each waits at most that much longer).
const (
	trackMaxBatch    = 1000
	trackLingerBatch = 64
	trackLinger      = 2 * time.Millisecond
)

func newEventRecorder(db *sqlx.DB, log *slog.Logger) *eventRecorder {
	r := &eventRecorder{db: db, log: log, in: make(chan trackPending, 4*trackMaxBatch), done: make(chan struct{})}
	r.flush = func(ctx context.Context, events []runs.Event) error { return runs.RecordEvents(ctx, r.db, events) }
	return r
}

// record submits ev and waits until it is committed; the error is the
// commit's (after retries). A request whose context ends first stops
// waiting, but its event is still recorded.
func (r *eventRecorder) record(ctx context.Context, ev runs.Event) error {
	p := trackPending{ev: ev, ack: make(chan error, 1)}
	select {
	case r.in <- p:
	case <-r.done:
		// The recorder has stopped (a handler outlived the shutdown):
		// record this one directly.
		return r.commitOne(p)
	}
	select {
	case err := <-p.ack:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *eventRecorder) commitOne(p trackPending) error {
	r.commit([]trackPending{p})
	return <-p.ack
}

// loop commits batches until ctx ends, then drains everything queued and
// returns; events submitted after that are written directly by record.
func (r *eventRecorder) loop(ctx context.Context) {
	defer close(r.done)
	batch := make([]trackPending, 0, trackMaxBatch)
	for {
		batch = batch[:0]
		select {
		case p := <-r.in:
			batch = append(batch, p)
		case <-ctx.Done():
			for {
				select {
				case p := <-r.in:
					batch = append(batch, p)
					if len(batch) == trackMaxBatch {
						r.commit(batch)
						batch = batch[:0]
					}
				default:
					r.commit(batch)
					return
				}
			}
		}
		batch = r.gather(ctx, batch)
		r.commit(batch)
	}
}

// gather adds what is queued to batch, waiting up to trackLinger after the
// first event while the batch is smaller than trackLingerBatch.
func (r *eventRecorder) gather(ctx context.Context, batch []trackPending) []trackPending {
	var deadline <-chan time.Time
	for len(batch) < trackMaxBatch {
		select {
		case p := <-r.in:
			batch = append(batch, p)
			continue
		default:
		}
		if len(batch) >= trackLingerBatch {
			return batch
		}
		if deadline == nil {
			t := time.NewTimer(trackLinger)
			defer t.Stop()
			deadline = t.C
		}
		select {
		case p := <-r.in:
			batch = append(batch, p)
		case <-deadline:
			return batch
		case <-ctx.Done():
			return batch
		}
	}
	return batch
}

// commit writes batch, retrying a few times over about two seconds, and
// acknowledges every event with the outcome.
func (r *eventRecorder) commit(batch []trackPending) {
	if len(batch) == 0 {
		return
	}
	events := make([]runs.Event, len(batch))
	for i, p := range batch {
		events[i] = p.ev
	}
	const tries = 4
	var err error
	for i, wait := 1, 100*time.Millisecond; ; i, wait = i+1, wait*3 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = r.flush(ctx, events)
		cancel()
		if err == nil || i == tries {
			break
		}
		r.log.Warn("recording opens and clicks failed; retrying", "count", len(batch), "err", err)
		time.Sleep(wait)
	}
	if err != nil {
		r.log.Error("recording opens and clicks failed", "count", len(batch), "err", err)
	}
	for _, p := range batch {
		p.ack <- err
	}
}
