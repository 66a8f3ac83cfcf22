package runs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/store"
)

// Recipient is who a delivery went to and what it was: what the
// unsubscribe and preferences pages need (SPEC.md, Web server).
type Recipient struct {
	DeliveryID int64          `db:"delivery_id"`
	RunID      int64          `db:"run_id"`
	AlumniID   int64          `db:"alumni_id"`
	Email      sql.NullString `db:"email"`  // NULL once the person was forgotten
	Locale     string         `db:"locale"` // ja | en
	Status     string         `db:"status"` // the alumnus's status (active, unsubscribed, …)
	MailKinds  string         `db:"mail_kinds"`
	CampaignID string         `db:"campaign_id"`
	RunNumber  int            `db:"run_number"`
	VersionID  int64          `db:"version_id"`
	// CampaignKind is newsletter or event.
	CampaignKind string `db:"campaign_kind"`
	// Unsubscribed: an unsubscribe is already recorded on this delivery.
	Unsubscribed bool `db:"unsubscribed"`
	// Campaign is the version the run sent (its Company is the sender's
	// identity the pages show).
	Campaign *campaigns.Campaign `db:"-"`
}

// DeliveryRecipient returns the recipient of delivery deliveryID with the
// campaign version its run sent. A delivery that does not exist gives an
// error wrapping store.ErrNotFound.
func DeliveryRecipient(ctx context.Context, db sqlx.QueryerContext, deliveryID int64) (*Recipient, error) {
	var r Recipient
	err := sqlx.GetContext(ctx, db, &r, qDeliveryRecipient, deliveryID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("delivery %d: %w", deliveryID, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("delivery %d: %w", deliveryID, err)
	}
	if r.Campaign, err = LoadVersion(ctx, db, r.VersionID); err != nil {
		return nil, fmt.Errorf("delivery %d: %w", deliveryID, err)
	}
	return &r, nil
}

// Ways an unsubscribe arrives, recorded in the event's detail ("via").
const (
	UnsubscribeOneClick = "one-click" // RFC 8058 POST from the mail client
	UnsubscribePage     = "page"      // the button on the unsubscribe page
	// UnsubscribeMail is a request by mail: to the List-Unsubscribe
	// mailto (reply+u.TOKEN@, RFC 2369 §3.2), or a reply asking to stop.
	UnsubscribeMail = "mail"
	// UnsubscribeComplaint is an abuse report about the delivery (an ARF
	// feedback report, RFC 5965): the person is never mailed again.
	UnsubscribeComplaint = "complaint"
)

// RecordUnsubscribe adds an unsubscribe event to delivery deliveryID unless
// it has one, and reports whether it added one. The delivery's row is
// locked first, so two requests at once record one event; tx is the
// transaction that also suppresses the address (roster.Suppress). via is
// UnsubscribeOneClick, UnsubscribePage, UnsubscribeMail or
// UnsubscribeComplaint. The run's `unsubscribed` count
// (Status) and the person's History read these events.
func RecordUnsubscribe(ctx context.Context, tx *sqlx.Tx, deliveryID int64, via string) (bool, error) {
	var id int64
	err := tx.QueryRowxContext(ctx, qLockDeliveryForEvent, deliveryID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("record unsubscribe of delivery %d: %w", deliveryID, store.ErrNotFound)
	}
	if err != nil {
		return false, fmt.Errorf("record unsubscribe of delivery %d: %w", deliveryID, err)
	}
	detail, _ := json.Marshal(map[string]string{"via": via})
	res, err := tx.ExecContext(ctx, qAddUnsubscribeEvent, deliveryID, string(detail))
	if err != nil {
		return false, fmt.Errorf("record unsubscribe of delivery %d: %w", deliveryID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("record unsubscribe of delivery %d: %w", deliveryID, err)
	}
	return n > 0, nil
}
