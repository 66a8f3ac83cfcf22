package runs

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// RunStatus is one run's line of `kizuna campaign status ID --json`
// (SPEC.md, Machine-readable output). Counts are distinct recipients. The
// RSVP counts are the current answers of the run's recipients, whichever
// mail carried them: RSVPYes the guests (a "yes" within capacity),
// Waitlisted the "yes" on the waiting list.
type RunStatus struct {
	Run          int       `db:"number" json:"run"`
	Kind         string    `db:"kind" json:"kind"`
	StartedAt    time.Time `db:"started_at" json:"started_at"`
	State        string    `db:"state" json:"state"`
	Total        int64     `db:"total" json:"total"`
	Pending      int64     `db:"pending" json:"pending"`
	Sent         int64     `db:"sent" json:"sent"`
	Failed       int64     `db:"failed" json:"failed"`
	Suppressed   int64     `db:"suppressed" json:"suppressed"`
	Opened       int64     `db:"opened" json:"opened"`
	Clicked      int64     `db:"clicked" json:"clicked"`
	Unsubscribed int64     `db:"unsubscribed" json:"unsubscribed"`
	Replied      int64     `db:"replied" json:"replied"`
	Bounced      int64     `db:"bounced" json:"bounced"`
	RSVPYes      int64     `db:"rsvp_yes" json:"rsvp_yes"`
	RSVPNo       int64     `db:"rsvp_no" json:"rsvp_no"`
	RSVPMaybe    int64     `db:"rsvp_maybe" json:"rsvp_maybe"`
	Waitlisted   int64     `db:"waitlisted" json:"waitlisted"`

	// MachineOpens counts recipients with an open by a privacy proxy or
	// scanner (Apple MPP, Gmail's image proxy…), which Opened leaves out;
	// ScannerClicks counts recipients with a click flagged as a security
	// scanner's, which Clicked and Opened leave out. Keys beyond SPEC.md's.
	MachineOpens  int64 `db:"machine_opens" json:"machine_opens"`
	ScannerClicks int64 `db:"scanner_clicks" json:"scanner_clicks"`

	// Hold says why an active run is not sending now and until when
	// (relay unreachable, quota used up, send window closed); null when
	// it is not held. A key beyond SPEC.md's.
	Hold *Hold `db:"-" json:"hold"`

	// Not in the JSON: the run's id and why it is paused, for the
	// commands that show more than the contract.
	ID          int64  `db:"id" json:"-"`
	PauseReason string `db:"pause_reason" json:"-"`

	HoldReason string     `db:"hold_reason" json:"-"` // "" unless the hold is current
	HoldDetail string     `db:"hold_detail" json:"-"`
	HoldSince  *time.Time `db:"hold_since" json:"-"`
	HoldUntil  *time.Time `db:"hold_until" json:"-"`
}

// Status returns the per-run counts of SPEC.md (campaign status --json),
// runs numbered from 1, oldest first; an empty slice before the first run.
func Status(ctx context.Context, db *sqlx.DB, campaignID string) ([]RunStatus, error) {
	out := []RunStatus{}
	if err := db.SelectContext(ctx, &out, statusQuery, campaignID, relayHoldGrace.Seconds()); err != nil {
		return nil, fmt.Errorf("status of %s: %w", campaignID, err)
	}
	for i := range out {
		r := &out[i]
		r.StartedAt = r.StartedAt.UTC().Truncate(time.Second)
		if r.HoldReason != "" && r.HoldSince != nil && r.HoldUntil != nil {
			r.Hold = &Hold{Reason: r.HoldReason, Detail: r.HoldDetail, Since: r.HoldSince.UTC(), Until: r.HoldUntil.UTC()}
		}
	}
	return out, nil
}
