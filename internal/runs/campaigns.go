package runs

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// CampaignExists reports whether the database knows campaign id (a version
// of it was registered).
func CampaignExists(ctx context.Context, db sqlx.QueryerContext, id string) (bool, error) {
	var ok bool
	if err := sqlx.GetContext(ctx, db, &ok, qCampaignExists, id); err != nil {
		return false, fmt.Errorf("campaign %s: %w", id, err)
	}
	return ok, nil
}

// CampaignSummary is one campaign as `campaign list` shows it.
type CampaignSummary struct {
	ID         string        `db:"id"`
	Kind       string        `db:"kind"`
	VersionID  sql.NullInt64 `db:"version_id"`  // the version its file holds now
	LastRun    sql.NullInt64 `db:"last_run"`    // the number of its last run
	LastManual sql.NullTime  `db:"last_manual"` // when it was last started by hand
}

// Campaigns lists every campaign the database knows, by id.
func Campaigns(ctx context.Context, db sqlx.QueryerContext) ([]CampaignSummary, error) {
	var out []CampaignSummary
	if err := sqlx.SelectContext(ctx, db, &out, qCampaigns); err != nil {
		return nil, fmt.Errorf("list campaigns: %w", err)
	}
	return out, nil
}
