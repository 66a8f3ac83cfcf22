package runs

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// HistoryEntry is one thing that happened between Kizuna and an alumnus: a
// delivery, an event recorded on one (open, click, reply...), or an RSVP.
type HistoryEntry struct {
	Type           string     `json:"type"` // delivery | open | click | unsubscribe | reply | auto_reply | bounce | rsvp
	At             *time.Time `json:"at"`
	CampaignID     string     `json:"campaign_id"`
	Run            *int       `json:"run,omitempty"`
	State          string     `json:"state,omitempty"`          // deliveries
	Classification string     `json:"classification,omitempty"` // opens and clicks; hard | soft for bounces
	Target         string     `json:"target,omitempty"`         // clicks
	Answer         string     `json:"answer,omitempty"`         // RSVPs
	Waitlisted     *bool      `json:"waitlisted,omitempty"`     // RSVPs
	// Reply is a delivery's last reply from the relay ("250 2.0.0 OK",
	// "550 5.1.1 ..."), or why it was not sent; for a bounce, the relay's
	// reply or the returned message's status and diagnostic; absent when
	// there is none.
	Reply string `json:"reply,omitempty"`
	// Subject is the subject of a reply or an automatic reply (mail
	// only).
	Subject string `json:"subject,omitempty"`
	// Reason is why a bounce failed, as the returned message says
	// (user_unknown, mailbox_full, filtered, …:
	// internal/inbound/classify); absent for a bounce at the relay.
	Reason string `json:"reason,omitempty"`
}

// History lists what happened with an alumnus (by alumni id), oldest
// first: `alumni show`. Bounces (hard and soft, with their reason) and
// automatic replies (with their subject) are there for HR to see. A delivery's
// time is when it was sent, or when it ended otherwise (failed,
// suppressed, cancelled); one still pending or being sent has no date and
// sorts last.
func History(ctx context.Context, db sqlx.QueryerContext, alumniID int64) ([]HistoryEntry, error) {
	rows, err := db.QueryContext(ctx, qHistory, alumniID)
	if err != nil {
		return nil, fmt.Errorf("alumnus history: %w", err)
	}
	defer rows.Close()
	out := []HistoryEntry{}
	for rows.Next() {
		var e HistoryEntry
		var run sql.NullInt64
		var waitlisted sql.NullBool
		if err := rows.Scan(&e.Type, &e.At, &e.CampaignID, &run, &e.State, &e.Classification, &e.Target, &e.Answer, &waitlisted, &e.Reply, &e.Subject, &e.Reason); err != nil {
			return nil, fmt.Errorf("alumnus history: %w", err)
		}
		if run.Valid {
			n := int(run.Int64)
			e.Run = &n
		}
		if waitlisted.Valid {
			w := waitlisted.Bool
			e.Waitlisted = &w
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// EraseAlumnus removes what identifies alumnus alumniID from the records of
// their deliveries (an APPI or GDPR erasure: roster.Forget calls it in its
// transaction db); the rows stay, so that counts do not change.
func EraseAlumnus(ctx context.Context, db sqlx.ExecerContext, alumniID int64, now time.Time) error {
	if _, err := db.ExecContext(ctx, qEraseEvents, alumniID); err != nil {
		return fmt.Errorf("erase the history of alumnus %d: %w", alumniID, err)
	}
	if _, err := db.ExecContext(ctx, qEraseDeliveries, alumniID, now); err != nil {
		return fmt.Errorf("erase the history of alumnus %d: %w", alumniID, err)
	}
	return nil
}
