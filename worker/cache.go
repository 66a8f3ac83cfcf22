package worker

import (
	"context"
	"fmt"
	"sync"

	"github.com/jmoiron/sqlx"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/render"
	"github.com/kizuna-alumni/kizuna/internal/runs"
)

// prepared is one run's campaign version, compiled once per process for
// one message of it (runs.Claimed.Message: the campaign's own, or a notice).
type prepared struct {
	c *campaigns.Campaign
	r *render.Prepared
}

// prepCache keeps the compiled campaigns of the most recently sent runs.
// Rendering a version once and substituting per recipient is what makes a
// message cost microseconds instead of milliseconds (GUIDE.md, decision 3).
type prepCache struct {
	mu    sync.Mutex
	max   int
	tick  uint64
	items map[cacheKey]*cacheItem
}

// cacheKey names a compiled message: a run and which of its messages.
type cacheKey struct {
	run     int64
	message string
}

type cacheItem struct {
	once sync.Once
	p    prepared
	err  error
	used uint64
}

func newPrepCache(max int) *prepCache {
	return &prepCache{max: max, items: map[cacheKey]*cacheItem{}}
}

// get returns run's compiled campaign for message, preparing it once;
// concurrent callers for the same run and message wait for the one
// preparation.
func (pc *prepCache) get(ctx context.Context, db *sqlx.DB, run runs.Run, message string, prepare PrepareFunc) (prepared, error) {
	key := cacheKey{run.ID, message}
	pc.mu.Lock()
	pc.tick++
	it := pc.items[key]
	if it == nil {
		if len(pc.items) >= pc.max {
			pc.evictLocked()
		}
		it = &cacheItem{}
		pc.items[key] = it
	}
	it.used = pc.tick
	pc.mu.Unlock()

	it.once.Do(func() {
		c, err := runs.LoadVersion(ctx, db, run.VersionID)
		if err != nil {
			it.err = err
			return
		}
		r, err := prepare(c, run, message)
		if err != nil {
			it.err = fmt.Errorf("prepare campaign %s version %d: %w", c.ID, run.VersionID, err)
			return
		}
		it.p = prepared{c: c, r: r}
	})
	if it.err != nil {
		// Do not keep a failure: the database may be back next time.
		pc.mu.Lock()
		if pc.items[key] == it {
			delete(pc.items, key)
		}
		pc.mu.Unlock()
	}
	return it.p, it.err
}

func (pc *prepCache) evictLocked() {
	var oldest cacheKey
	var at uint64
	first := true
	for id, it := range pc.items {
		if first || it.used < at {
			oldest, at, first = id, it.used, false
		}
	}
	delete(pc.items, oldest)
}

// clear forgets every compiled version: they were prepared for a relay
// capability (8BITMIME) that no longer holds. A preparation in progress
// finishes for its waiting callers.
func (pc *prepCache) clear() {
	pc.mu.Lock()
	clear(pc.items)
	pc.mu.Unlock()
}
