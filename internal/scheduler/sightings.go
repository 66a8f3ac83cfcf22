package scheduler

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// sighting is when a schedule source of a campaign was first seen.
type sighting struct {
	CampaignID string    `db:"campaign_id"`
	Source     string    `db:"source"`
	FirstSeen  time.Time `db:"first_seen"`
	// CheckedUntil is how far schedulers have handled the source's
	// occurrences (see markChecked); NULL when not known.
	CheckedUntil sql.NullTime `db:"checked_until"`
}

// recordSightings stores the sightings in one statement, keeping the
// earliest sighting of every scheduler, and returns those earliest ones
// with how far schedulers have checked each source.
func recordSightings(ctx context.Context, db *sqlx.DB, in []sighting) ([]sighting, error) {
	if len(in) == 0 {
		return nil, nil
	}
	ids := make([]string, len(in))
	sources := make([]string, len(in))
	seen := make([]time.Time, len(in))
	for i, s := range in {
		ids[i], sources[i], seen[i] = s.CampaignID, s.Source, s.FirstSeen.UTC()
	}
	var out []sighting
	err := db.SelectContext(ctx, &out, qRecordSightings, pq.Array(ids), pq.Array(sources), pq.Array(seen))
	if err != nil {
		return nil, fmt.Errorf("record schedule sightings: %w", err)
	}
	return out, nil
}
