package runs

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// Reply is one human reply recorded on a delivery (a delivery_events row
// of kind EventReply, written by internal/inbound when a person answered a
// message): what the dashboard lists.
type Reply struct {
	At         time.Time `db:"at"`          // when the reply was recorded, UTC
	DeliveryID int64     `db:"delivery_id"` // the delivery it answered
	CampaignID string    `db:"campaign_id"`
	Run        int       `db:"run"`      // the run's number within its campaign
	RunKind    string    `db:"run_kind"` // KindSend, KindReminder, …
	// The person the delivery went to: empty Email for a person since
	// forgotten (their names are kept by the roster until then).
	FamilyName string `db:"family_name"`
	GivenName  string `db:"given_name"`
	Email      string `db:"email"`
	// From is the reply's From address, Subject its decoded subject and
	// Excerpt its first characters of text (inbound keeps 500); all empty
	// once the person is forgotten (the event's detail is erased).
	From    string `db:"from_address"`
	Subject string `db:"subject"`
	Excerpt string `db:"excerpt"`
}

// Replies returns the latest human replies, newest first, at most limit
// (at least 1): those of campaign campaignID, or of every campaign when it
// is "". Automatic replies (EventAutoReply) are not listed.
func Replies(ctx context.Context, db sqlx.QueryerContext, campaignID string, limit int) ([]Reply, error) {
	if limit < 1 {
		limit = 1
	}
	out := []Reply{}
	if err := sqlx.SelectContext(ctx, db, &out, qReplies, campaignID, limit); err != nil {
		return nil, fmt.Errorf("replies of %q: %w", campaignID, err)
	}
	for i := range out {
		out[i].At = out[i].At.UTC()
	}
	return out, nil
}
