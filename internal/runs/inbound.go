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
// suppressed the address; a soft one only counts (SoftBounceRuns); a
// sender one is a returned message that rejects the sender, not the
// recipient (authentication, X.7.x policy, 5.1.7/5.1.8: RFC 3463): it
// never suppresses, is not counted as the run's bounce in its status, and
// counts towards pausing the run (SenderBounces).
const (
	BounceHard   = "hard"
	BounceSoft   = "soft"
	BounceSender = "sender"
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

// SenderBounceCount is what SenderBounces counted: a run's deliveries with
// a sender-side bounce of one reply pattern and their recipients' domains,
// with the event just recorded (Deliveries, Domains) and without it
// (DeliveriesBefore, DomainsBefore).
type SenderBounceCount struct {
	State            string `db:"-"` // the run's state when counted
	Deliveries       int    `db:"deliveries"`
	Domains          int    `db:"domains"`
	DeliveriesBefore int    `db:"deliveries_before"`
	DomainsBefore    int    `db:"domains_before"`
}

// Crossed reports whether the event just recorded is the one that brought
// the count to at least deliveries across at least domains: true once per
// run and pattern, whichever order the bounces are processed in (a second
// bounce of a delivery counted already adds nothing).
func (c SenderBounceCount) Crossed(deliveries, domains int) bool {
	now := c.Deliveries >= deliveries && c.Domains >= domains
	before := c.DeliveriesBefore >= deliveries && c.DomainsBefore >= domains
	return now && !before
}

// SenderBounces counts, in tx, the deliveries of run runID with a
// sender-side bounce (a bounce event of type BounceSender whose detail
// holds "pattern", the reply as mailer.ReplyPattern gives it, and
// "domain", the recipient's domain) of pattern, with and without the
// event of delivery deliveryID that inbound message inboundID reported
// (the one tx just recorded with RecordInboundEvent). It counts what is
// stored, so a message reprocessed, or processed by another intake, counts
// once. It first locks the run's row (FOR NO KEY UPDATE, as a pause does),
// so that two intakes counting the same run take turns and the second sees
// the first's event: one of them sees the crossing. A run that does not
// exist gives an error wrapping store.ErrNotFound. The cost is the run's
// sender-side bounces of that pattern (a partial index, migrations/0016).
func SenderBounces(ctx context.Context, tx *sqlx.Tx, runID, deliveryID, inboundID int64, pattern string) (SenderBounceCount, error) {
	var c SenderBounceCount
	err := tx.GetContext(ctx, &c.State, qLockRunForSenderBounces, runID)
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("sender bounces of run %d: %w", runID, store.ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("sender bounces of run %d: %w", runID, err)
	}
	if err := tx.GetContext(ctx, &c, qSenderBounces, runID, pattern, deliveryID, fmt.Sprint(inboundID)); err != nil {
		return c, fmt.Errorf("sender bounces of run %d: %w", runID, err)
	}
	return c, nil
}
