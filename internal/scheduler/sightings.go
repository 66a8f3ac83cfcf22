package scheduler

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// recordSighting stores that source of campaign was seen at seen, keeping
// the earliest sighting of every scheduler, and returns that earliest one.
func recordSighting(ctx context.Context, db *sqlx.DB, campaignID, source string, seen time.Time) (time.Time, error) {
	var first time.Time
	err := db.GetContext(ctx, &first, `
		INSERT INTO schedule_sightings (campaign_id, source, first_seen) VALUES ($1, $2, $3)
		ON CONFLICT (campaign_id, source)
		DO UPDATE SET first_seen = LEAST(schedule_sightings.first_seen, EXCLUDED.first_seen)
		RETURNING first_seen`, campaignID, source, seen.UTC())
	if err != nil {
		return time.Time{}, fmt.Errorf("record schedule sighting of %s %s: %w", campaignID, source, err)
	}
	return first.UTC(), nil
}

// runExists reports whether campaign already has a run for occurrence.
func runExists(ctx context.Context, db *sqlx.DB, campaignID, occurrence string) (bool, error) {
	var ok bool
	err := db.GetContext(ctx, &ok, `SELECT EXISTS (SELECT 1 FROM runs WHERE campaign_id = $1 AND occurrence = $2)`, campaignID, occurrence)
	if err != nil {
		return false, fmt.Errorf("look up run of %s %s: %w", campaignID, occurrence, err)
	}
	return ok, nil
}
