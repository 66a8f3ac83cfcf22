// Package groupcommit writes items to Postgres in group commits: whatever
// items arrive while one commit runs go into the next. A commit costs the
// database about as much for one row as for dozens (parse, plan, WAL
// flush), so a busy process writes hundreds of items per statement and an
// idle one each item a moment after it arrives. The worker records
// delivery results with it, the web server opens and clicks.
package groupcommit

import (
	"cmp"
	"context"
	"log/slog"
	"sync"
	"time"
)

// Config configures a Committer. Zero values take the defaults.
type Config[T any] struct {
	// Flush writes one batch, in order; it is called from one goroutine.
	Flush func(ctx context.Context, batch []T) error
	// MaxBatch bounds one commit (default 1000).
	MaxBatch int
	// LingerBatch and Linger: a batch smaller than LingerBatch waits up to
	// Linger for more items after its first (defaults 64 and 5 ms). That
	// lengthens each item's wait by at most Linger, and only while items
	// trickle in.
	LingerBatch int
	Linger      time.Duration
	// Tries, FirstWait and Backoff: a failed flush is tried again up to
	// Tries times in all, waiting FirstWait, then Backoff times longer
	// each time (defaults 4, 100 ms, ×4); nothing is slept after the last.
	Tries     int
	FirstWait time.Duration
	Backoff   int
	// Timeout bounds one flush (default 30 s).
	Timeout time.Duration
	// Log and What name the failures in the log ("recording deliveries").
	Log  *slog.Logger
	What string
}

// Committer batches items into group commits. Submit and Do may be called
// from any goroutine; Loop runs the commits.
type Committer[T any] struct {
	cfg Config[T]
	in  chan pending[T]

	// mu orders Submit's sends before Loop's last drain: once stopped is
	// set, nothing more enters in, and Submit commits on its own.
	mu      sync.Mutex
	stopped bool
}

type pending[T any] struct {
	item T
	ack  chan<- error
}

// New returns a Committer; start Loop before submitting.
func New[T any](cfg Config[T]) *Committer[T] {
	cfg.MaxBatch = cmp.Or(cfg.MaxBatch, 1000)
	cfg.LingerBatch = cmp.Or(cfg.LingerBatch, 64)
	cfg.Linger = cmp.Or(cfg.Linger, 5*time.Millisecond)
	cfg.Tries = cmp.Or(cfg.Tries, 4)
	cfg.FirstWait = cmp.Or(cfg.FirstWait, 100*time.Millisecond)
	cfg.Backoff = cmp.Or(cfg.Backoff, 4)
	cfg.Timeout = cmp.Or(cfg.Timeout, 30*time.Second)
	cfg.Log = cmp.Or(cfg.Log, slog.Default())
	cfg.What = cmp.Or(cfg.What, "group commit")
	return &Committer[T]{cfg: cfg, in: make(chan pending[T], 4*cfg.MaxBatch)}
}

// Submit queues item; ack (buffered, or read by the caller) receives the
// outcome of its commit: nil once it is durable. Once Loop was told to stop,
// the item is committed at once, alone.
func (c *Committer[T]) Submit(item T, ack chan<- error) {
	p := pending[T]{item: item, ack: ack}
	for {
		c.mu.Lock()
		if c.stopped {
			c.mu.Unlock()
			c.commit([]pending[T]{p})
			return
		}
		select {
		case c.in <- p:
			c.mu.Unlock()
			return
		default:
		}
		c.mu.Unlock()
		// The queue is full (4 × MaxBatch items): Loop is committing.
		time.Sleep(time.Millisecond)
	}
}

// Do submits item and waits for its commit. A caller whose ctx ends first
// stops waiting (ctx's error), but the item is still committed.
func (c *Committer[T]) Do(ctx context.Context, item T) error {
	ack := make(chan error, 1)
	c.Submit(item, ack)
	select {
	case err := <-ack:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Loop commits batches until ctx ends, then commits everything queued and
// returns.
func (c *Committer[T]) Loop(ctx context.Context) {
	batch := make([]pending[T], 0, c.cfg.MaxBatch)
	for {
		batch = batch[:0]
		select {
		case p := <-c.in:
			batch = append(batch, p)
		case <-ctx.Done():
			c.mu.Lock()
			c.stopped = true // from now on Submit commits by itself
			c.mu.Unlock()
			for {
				select {
				case p := <-c.in:
					batch = append(batch, p)
					if len(batch) == c.cfg.MaxBatch {
						c.commit(batch)
						batch = batch[:0]
					}
				default:
					c.commit(batch)
					return
				}
			}
		}
		batch = c.gather(ctx, batch)
		c.commit(batch)
	}
}

// gather adds what is queued to batch, waiting up to Linger after the
// first item while the batch is smaller than LingerBatch.
func (c *Committer[T]) gather(ctx context.Context, batch []pending[T]) []pending[T] {
	var deadline <-chan time.Time
	for len(batch) < c.cfg.MaxBatch {
		select {
		case p := <-c.in:
			batch = append(batch, p)
			continue
		default:
		}
		if len(batch) >= c.cfg.LingerBatch {
			return batch
		}
		if deadline == nil {
			t := time.NewTimer(c.cfg.Linger)
			defer t.Stop()
			deadline = t.C
		}
		select {
		case p := <-c.in:
			batch = append(batch, p)
		case <-deadline:
			return batch
		case <-ctx.Done():
			return batch
		}
	}
	return batch
}

// commit flushes batch, trying again on failure, and acknowledges every
// item with the outcome.
func (c *Committer[T]) commit(batch []pending[T]) {
	if len(batch) == 0 {
		return
	}
	items := make([]T, len(batch))
	for i, p := range batch {
		items[i] = p.item
	}
	var err error
	for i, wait := 1, c.cfg.FirstWait; ; i, wait = i+1, wait*time.Duration(c.cfg.Backoff) {
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
		err = c.cfg.Flush(ctx, items)
		cancel()
		if err == nil || i == c.cfg.Tries {
			break
		}
		c.cfg.Log.Warn(c.cfg.What+" failed; retrying", "count", len(batch), "err", err)
		time.Sleep(wait)
	}
	if err != nil {
		c.cfg.Log.Error(c.cfg.What+" failed", "count", len(batch), "err", err)
	}
	for _, p := range batch {
		p.ack <- err
	}
}
