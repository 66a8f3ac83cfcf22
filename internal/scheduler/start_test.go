package scheduler

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
)

// startForTest creates runs with the statements the runs package uses
// (version upsert by digest, run unique per campaign and occurrence).
func startForTest(db *testdb.DB) Starter {
	return func(ctx context.Context, c *campaigns.Campaign, occ Occurrence) (int, bool, error) {
		tx, err := db.BeginTxx(ctx, nil)
		if err != nil {
			return 0, false, err
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, `INSERT INTO campaigns (id, kind) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, c.ID, c.Kind); err != nil {
			return 0, false, err
		}
		def, _ := json.Marshal(map[string]string{"id": c.ID})
		var vid int64
		if err := tx.GetContext(ctx, &vid, `INSERT INTO campaign_versions (campaign_id, digest, definition) VALUES ($1, $2, $3)
			ON CONFLICT (campaign_id, digest) DO UPDATE SET digest = EXCLUDED.digest RETURNING id`, c.ID, c.Digest, def); err != nil {
			return 0, false, err
		}
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, c.ID); err != nil {
			return 0, false, err
		}
		var num int
		err = tx.GetContext(ctx, &num, `INSERT INTO runs (campaign_id, version_id, number, kind, occurrence)
			SELECT $1, $2, coalesce(max(number), 0) + 1, $3, $4 FROM runs WHERE campaign_id = $1
			ON CONFLICT (campaign_id, occurrence) DO NOTHING RETURNING number`, c.ID, vid, occ.Kind, occ.Key)
		if err != nil {
			if err.Error() == "sql: no rows in result set" {
				return 0, false, tx.Commit()
			}
			return 0, false, fmt.Errorf("create run: %w", err)
		}
		return num, true, tx.Commit()
	}
}
