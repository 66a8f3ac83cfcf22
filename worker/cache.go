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

// prepared is one run's campaign version, compiled once per process.
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
	items map[int64]*cacheItem
}

type cacheItem struct {
	once sync.Once
	p    prepared
	err  error
	used uint64
}

func newPrepCache(max int) *prepCache {
	return &prepCache{max: max, items: map[int64]*cacheItem{}}
}

// get returns run's compiled campaign, preparing it once; concurrent
// callers for the same run wait for the one preparation.
func (pc *prepCache) get(ctx context.Context, db *sqlx.DB, run runs.Run, prepare func(*campaigns.Campaign, runs.Run) (*render.Prepared, error)) (prepared, error) {
	pc.mu.Lock()
	pc.tick++
	it := pc.items[run.ID]
	if it == nil {
		if len(pc.items) >= pc.max {
			pc.evictLocked()
		}
		it = &cacheItem{}
		pc.items[run.ID] = it
	}
	it.used = pc.tick
	pc.mu.Unlock()

	it.once.Do(func() {
		c, err := runs.LoadVersion(ctx, db, run.VersionID)
		if err != nil {
			it.err = err
			return
		}
		r, err := prepare(c, run)
		if err != nil {
			it.err = fmt.Errorf("prepare campaign %s version %d: %w", c.ID, run.VersionID, err)
			return
		}
		it.p = prepared{c: c, r: r}
	})
	if it.err != nil {
		// Do not keep a failure: the database may be back next time.
		pc.mu.Lock()
		if pc.items[run.ID] == it {
			delete(pc.items, run.ID)
		}
		pc.mu.Unlock()
	}
	return it.p, it.err
}

func (pc *prepCache) evictLocked() {
	var oldest int64
	var at uint64
	first := true
	for id, it := range pc.items {
		if first || it.used < at {
			oldest, at, first = id, it.used, false
		}
	}
	delete(pc.items, oldest)
}
