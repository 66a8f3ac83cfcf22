package scheduler

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Reasons an occurrence was skipped (skipped_occurrences.reason).
const (
	// SkippedNoScheduler: due while no scheduler ran, and older than the
	// campaign's max_late when one started.
	SkippedNoScheduler = "no_scheduler"
	// SkippedLate: a running scheduler could not start it within max_late
	// (the machine was suspended, the process stalled).
	SkippedLate = "late"
)

// Skipped is an occurrence that was not sent because no scheduler started
// it within its campaign's max_late (SPEC.md, Campaign files: max_late).
type Skipped struct {
	CampaignID string    `db:"campaign_id" json:"-"`
	Occurrence string    `db:"occurrence" json:"occurrence"` // the occurrence key, e.g. "cron:2026-11-01T00:00:00Z"
	Kind       string    `db:"kind" json:"kind"`             // KindSend or KindReminder
	DueAt      time.Time `db:"due_at" json:"due_at"`         // UTC
	Reason     string    `db:"reason" json:"reason"`         // SkippedNoScheduler or SkippedLate
	RecordedAt time.Time `db:"recorded_at" json:"-"`
}

// Why says in words why the occurrence was skipped.
func (s Skipped) Why() string {
	if s.Reason == SkippedNoScheduler {
		return "missed while no scheduler ran"
	}
	return "missed by more than max_late (the scheduler was stalled)"
}

// SendCommand is the command that sends a skipped occurrence of campaign
// id now: `kizuna campaign start ID`, with --again when the campaign
// already has a run (SPEC.md, Commands). It is "" for a reminder: `campaign
// start` sends the invitation to the whole audience, not a reminder.
func SendCommand(id, kind string, hasRuns bool) string {
	if kind == KindReminder {
		return ""
	}
	if hasRuns {
		return "kizuna campaign start " + id + " --again"
	}
	return "kizuna campaign start " + id
}

// recordSkipped stores the skipped occurrences of one campaign and returns
// those this call recorded: not one another scheduler recorded first, nor
// one that has a run after all.
func recordSkipped(ctx context.Context, db *sqlx.DB, campaignID, reason string, occs []Occurrence) ([]Skipped, error) {
	if len(occs) == 0 {
		return nil, nil
	}
	keys := make([]string, len(occs))
	kinds := make([]string, len(occs))
	due := make([]time.Time, len(occs))
	for i, o := range occs {
		keys[i], kinds[i], due[i] = o.Key, o.Kind, o.At.UTC()
	}
	var out []Skipped
	err := db.SelectContext(ctx, &out, qRecordSkipped,
		campaignID, pq.Array(keys), pq.Array(kinds), pq.Array(due), reason)
	if err != nil {
		return nil, fmt.Errorf("record skipped occurrences of %s: %w", campaignID, err)
	}
	return out, nil
}

// ListSkipped returns the skipped occurrences of a campaign (of every
// campaign when campaignID is ""), newest first, leaving out any that was
// started after all.
func ListSkipped(ctx context.Context, db sqlx.QueryerContext, campaignID string) ([]Skipped, error) {
	var out []Skipped
	err := sqlx.SelectContext(ctx, db, &out, qListSkipped, campaignID)
	if err != nil {
		return nil, fmt.Errorf("list skipped occurrences: %w", err)
	}
	for i := range out {
		out[i].DueAt, out[i].RecordedAt = out[i].DueAt.UTC(), out[i].RecordedAt.UTC()
	}
	return out, nil
}

// markChecked records that every occurrence of the given schedule parts due
// at or before until[i] was handled, keeping the latest of every scheduler.
func markChecked(ctx context.Context, db *sqlx.DB, ids, sources []string, until []time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := db.ExecContext(ctx, qMarkChecked, pq.Array(ids), pq.Array(sources), pq.Array(until))
	if err != nil {
		return fmt.Errorf("record how far the schedule was checked: %w", err)
	}
	return nil
}
