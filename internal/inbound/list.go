package inbound

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	// Decodes the charsets Japanese mail uses (ISO-2022-JP, Shift_JIS,
	// EUC-JP) in RFC 2047 headers.
	_ "github.com/emersion/go-message/charset"
	"github.com/jmoiron/sqlx"
)

// Listed is one stored message as `kizuna inbound list` shows it.
type Listed struct {
	ID           int64      `db:"id" json:"id"`
	ReceivedAt   time.Time  `db:"received_at" json:"received_at"`
	Source       Source     `db:"source" json:"source"`
	EnvelopeFrom string     `db:"envelope_from" json:"envelope_from"`
	From         string     `db:"-" json:"from"`    // the From header's address
	Subject      string     `db:"-" json:"subject"` // decoded (RFC 2047)
	Size         int        `db:"size" json:"size"` // bytes
	Truncated    bool       `db:"truncated" json:"truncated"`
	MessageID    string     `db:"message_id" json:"message_id"`
	Class        string     `db:"class" json:"class"`    // "" until processed
	DeliveryID   *int64     `db:"-" json:"delivery_id"`  // nil: not attributed
	ProcessedAt  *time.Time `db:"-" json:"processed_at"` // nil: not processed yet
	Error        string     `db:"error" json:"error"`    // the last processing error of an unprocessed message
}

// List returns the most recent stored messages, newest first, at most
// limit; unattributed keeps only those processed without a delivery.
func List(ctx context.Context, db sqlx.QueryerContext, unattributed bool, limit int) ([]Listed, error) {
	var rows []struct {
		Listed
		Head        []byte        `db:"head"`
		DeliveryID  sql.NullInt64 `db:"delivery_id"`
		ProcessedAt sql.NullTime  `db:"processed_at"`
	}
	if err := sqlx.SelectContext(ctx, db, &rows, qListMessages, unattributed, limit); err != nil {
		return nil, fmt.Errorf("inbound: list: %w", err)
	}
	out := make([]Listed, len(rows))
	for i, r := range rows {
		l := r.Listed
		h := readHeader(r.Head)
		if s, err := h.Subject(); err == nil {
			l.Subject = s
		} else {
			l.Subject = h.Get("Subject")
		}
		if as, err := h.AddressList("From"); err == nil && len(as) > 0 {
			l.From = as[0].Address
		} else {
			l.From = h.Get("From")
		}
		if r.DeliveryID.Valid {
			l.DeliveryID = &r.DeliveryID.Int64
		}
		if r.ProcessedAt.Valid {
			l.ProcessedAt = &r.ProcessedAt.Time
		}
		out[i] = l
	}
	return out, nil
}
