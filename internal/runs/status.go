package runs

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// RunStatus is one run's line of `kizuna campaign status ID --json`
// (SPEC.md, Machine-readable output). Counts are distinct recipients.
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

// statusQuery counts per run in one statement. Opens count only those not
// flagged as machine opens (privacy proxies, scanners).
const statusQuery = `
SELECT r.id, r.number, r.kind, r.started_at, r.state, r.pause_reason,
       CASE WHEN r.state IN ('expanding', 'sending', 'waiting')
             AND h.until > now() - CASE h.reason WHEN 'relay' THEN make_interval(secs => $2::float8) ELSE interval '0' END
            THEN h.reason ELSE '' END AS hold_reason,
       coalesce(h.detail, '') AS hold_detail, h.since AS hold_since, h.until AS hold_until,
       coalesce(d.total, 0) AS total, coalesce(d.pending, 0) AS pending, coalesce(d.sent, 0) AS sent,
       coalesce(d.failed, 0) AS failed, coalesce(d.suppressed, 0) AS suppressed,
       coalesce(e.opened, 0) AS opened, coalesce(e.clicked, 0) AS clicked,
       coalesce(e.unsubscribed, 0) AS unsubscribed, coalesce(e.replied, 0) AS replied,
       coalesce(e.bounced, 0) AS bounced,
       coalesce(v.yes, 0) AS rsvp_yes, coalesce(v.no, 0) AS rsvp_no, coalesce(v.maybe, 0) AS rsvp_maybe,
       coalesce(v.waitlisted, 0) AS waitlisted
FROM runs r
LEFT JOIN run_holds h ON h.run_id = r.id
LEFT JOIN LATERAL (
	SELECT count(*) AS total,
	       count(*) FILTER (WHERE state IN ('pending', 'sending')) AS pending,
	       count(*) FILTER (WHERE state = 'sent') AS sent,
	       count(*) FILTER (WHERE state = 'failed') AS failed,
	       count(*) FILTER (WHERE state = 'suppressed') AS suppressed
	FROM deliveries WHERE run_id = r.id
) d ON true
LEFT JOIN LATERAL (
	SELECT count(DISTINCT dd.alumni_id) FILTER (WHERE ev.kind = 'open' AND ev.classification IN ('human', 'unknown')) AS opened,
	       count(DISTINCT dd.alumni_id) FILTER (WHERE ev.kind = 'click') AS clicked,
	       count(DISTINCT dd.alumni_id) FILTER (WHERE ev.kind = 'unsubscribe') AS unsubscribed,
	       count(DISTINCT dd.alumni_id) FILTER (WHERE ev.kind = 'reply') AS replied,
	       count(DISTINCT dd.alumni_id) FILTER (WHERE ev.kind = 'bounce') AS bounced
	FROM delivery_events ev JOIN deliveries dd ON dd.id = ev.delivery_id
	WHERE dd.run_id = r.id
) e ON true
LEFT JOIN LATERAL (
	SELECT count(*) FILTER (WHERE rv.answer = 'yes' AND NOT rv.waitlisted) AS yes,
	       count(*) FILTER (WHERE rv.answer = 'no') AS no,
	       count(*) FILTER (WHERE rv.answer = 'maybe') AS maybe,
	       count(*) FILTER (WHERE rv.answer = 'yes' AND rv.waitlisted) AS waitlisted
	FROM rsvps rv JOIN deliveries dv ON dv.id = rv.delivery_id
	WHERE dv.run_id = r.id
) v ON true
WHERE r.campaign_id = $1
ORDER BY r.number`

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
