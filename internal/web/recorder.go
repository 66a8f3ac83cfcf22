package web

import (
	"context"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/kizuna-alumni/kizuna/internal/groupcommit"
	"github.com/kizuna-alumni/kizuna/internal/runs"
)

// eventRecorder writes opens and clicks to Postgres in group commits
// (internal/groupcommit, as the worker records deliveries): whatever
// events arrive while one commit runs go into the next, so a busy server
// writes hundreds of events per statement and an idle one each event at
// once. A handler waits for its event's commit: a request is answered only
// once its event is durable.
type eventRecorder struct {
	*groupcommit.Committer[runs.Event]
	// flush writes a batch (runs.RecordEvents; tests may replace it).
	flush func(ctx context.Context, events []runs.Event) error
}

// Group commit sizes: a batch smaller than 64 events waits up to 2 ms for
// more (while events only trickle in, each waits at most that much
// longer); a failed commit is tried again over about 1.3 s (4 tries, 100
// ms ×3), each try bounded to 10 s.
func newEventRecorder(db *sqlx.DB, log *slog.Logger) *eventRecorder {
	r := &eventRecorder{}
	r.flush = func(ctx context.Context, events []runs.Event) error { return runs.RecordEvents(ctx, db, events) }
	r.Committer = groupcommit.New(groupcommit.Config[runs.Event]{
		Flush:  func(ctx context.Context, events []runs.Event) error { return r.flush(ctx, events) },
		Linger: 2 * time.Millisecond, Backoff: 3, Timeout: 10 * time.Second,
		Log: log, What: "recording opens and clicks",
	})
	return r
}

// record submits ev and waits until it is committed; the error is the
// commit's (after retries). A request whose context ends first stops
// waiting, but its event is still recorded.
func (r *eventRecorder) record(ctx context.Context, ev runs.Event) error { return r.Do(ctx, ev) }

// loop commits until ctx ends, then everything queued (Serve stops it after
// the requests in flight).
func (r *eventRecorder) loop(ctx context.Context) { r.Loop(ctx) }
