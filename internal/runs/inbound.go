package runs

// What inbound mail records on deliveries: replies, automatic replies and
// bounces reported by a returned message (internal/inbound), and the
// lookups attribution needs.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/kizuna-alumni/kizuna/internal/store"
)

// Kinds of delivery event that inbound mail records (delivery_events.kind,
// migrations/0002).
const (
	EventReply     = "reply"      // a person answered the message
	EventAutoReply = "auto_reply" // an automatic reply (RFC 3834, out of office)
	EventBounce    = "bounce"     // a returned message reported the delivery failed
)

// Bounce types in a bounce event's detail ("type"): a hard bounce
// suppressed the address; a soft one only counts (SoftBounceRuns).
const (
	BounceHard = "hard"
	BounceSoft = "soft"
)

// RecordInboundEvent records an event of kind (EventReply, EventAutoReply
// or EventBounce) that inbound message inboundID reported on delivery
// deliveryID, with detail (stored as the event's JSON detail, plus
// "inbound": inboundID), and reports whether it added one. It is
// idempotent per (delivery, kind, inbound message): processing the message
// again records nothing new. A bounce is not recorded on a delivery the
// worker already recorded as bounced when the relay refused it (its
// 'bounce' event of classification smtp): one failure, one event. The
// delivery's row is locked first (tx is the transaction that also carries
// the suppression, if any). A delivery that does not exist gives an error
// wrapping store.ErrNotFound.
func RecordInboundEvent(ctx context.Context, tx *sqlx.Tx, deliveryID int64, kind string, inboundID int64, detail map[string]any) (bool, error) {
	if kind != EventReply && kind != EventAutoReply && kind != EventBounce {
		return false, fmt.Errorf("record inbound event: unknown kind %q", kind)
	}
	var id int64
	err := tx.QueryRowxContext(ctx, qLockDeliveryForEvent, deliveryID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("record %s of delivery %d: %w", kind, deliveryID, store.ErrNotFound)
	}
	if err != nil {
		return false, fmt.Errorf("record %s of delivery %d: %w", kind, deliveryID, err)
	}
	d := map[string]any{}
	for k, v := range detail {
		d[k] = v
	}
	d["inbound"] = inboundID
	b, err := json.Marshal(d)
	if err != nil {
		return false, fmt.Errorf("record %s of delivery %d: %w", kind, deliveryID, err)
	}
	res, err := tx.ExecContext(ctx, qAddInboundEvent, deliveryID, kind, string(b), fmt.Sprint(inboundID))
	if err != nil {
		return false, fmt.Errorf("record %s of delivery %d: %w", kind, deliveryID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("record %s of delivery %d: %w", kind, deliveryID, err)
	}
	return n > 0, nil
}

// HasSMTPBounce reports whether the worker recorded delivery deliveryID as
// a hard bounce when the relay refused it (so the address is suppressed
// already and a returned message for it changes nothing).
func HasSMTPBounce(ctx context.Context, db sqlx.QueryerContext, deliveryID int64) (bool, error) {
	var b bool
	if err := sqlx.GetContext(ctx, db, &b, qHasSMTPBounce, deliveryID); err != nil {
		return false, fmt.Errorf("bounces of delivery %d: %w", deliveryID, err)
	}
	return b, nil
}

// SoftBounceRuns counts the distinct runs in which alumnus alumniID's
// deliveries bounced softly (bounce events of type soft): the rule that
// suppresses an address after soft bounces in N runs (kizuna.yaml
// bounces.soft_limit) counts runs, not messages, so one bad day of a
// mailbox does not end a person's mail.
func SoftBounceRuns(ctx context.Context, db sqlx.QueryerContext, alumniID int64) (int, error) {
	var n int
	if err := sqlx.GetContext(ctx, db, &n, qSoftBounceRuns, alumniID); err != nil {
		return 0, fmt.Errorf("soft bounces of alumnus %d: %w", alumniID, err)
	}
	return n, nil
}

// DeliveryForAttendee returns the latest delivery of campaign campaignID
// to the alumnus whose address is email (compared lower-cased): an iMIP
// REPLY (RFC 5546 §3.2.3) names the event by its UID and the person by
// ATTENDEE, not by a delivery. No such delivery gives an error wrapping
// store.ErrNotFound.
func DeliveryForAttendee(ctx context.Context, db sqlx.QueryerContext, campaignID, email string) (int64, error) {
	var id int64
	err := sqlx.GetContext(ctx, db, &id, qDeliveryForAttendee, campaignID, strings.ToLower(strings.TrimSpace(email)))
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("delivery of %s to %s: %w", campaignID, email, store.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("delivery of %s to %s: %w", campaignID, email, err)
	}
	return id, nil
}

// LatestDeliveryTo returns the latest sent delivery to the alumnus whose
// address is email, of any campaign: a complaint (ARF, RFC 5965) that
// names the recipient (Original-Rcpt-To) but not our Message-ID is
// attributed to it. No such delivery gives an error wrapping
// store.ErrNotFound.
func LatestDeliveryTo(ctx context.Context, db sqlx.QueryerContext, email string) (int64, error) {
	var id int64
	err := sqlx.GetContext(ctx, db, &id, qLatestDeliveryTo, strings.ToLower(strings.TrimSpace(email)))
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("delivery to %s: %w", email, store.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("delivery to %s: %w", email, err)
	}
	return id, nil
}
