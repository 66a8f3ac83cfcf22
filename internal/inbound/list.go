package inbound

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	// Decodes the charsets Japanese mail uses (ISO-2022-JP, Shift_JIS,
	// EUC-JP) in RFC 2047 headers.
	_ "github.com/emersion/go-message/charset"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/store"
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

// MaxShownText is the most of a message's decoded text Show returns, in
// bytes.
const MaxShownText = 64 << 10

// Shown is one stored message as `kizuna inbound show` prints it: where it
// came from, what it was classified as, the delivery it answers, what was
// done, and its decoded text.
type Shown struct {
	ID           int64      `json:"id"`
	ReceivedAt   time.Time  `json:"received_at"`
	Source       Source     `json:"source"`
	EnvelopeFrom string     `json:"envelope_from"`
	EnvelopeTo   []string   `json:"envelope_to"`
	From         string     `json:"from"`    // the From header's address
	Subject      string     `json:"subject"` // decoded (RFC 2047)
	MessageID    string     `json:"message_id"`
	Size         int        `json:"size"` // bytes
	Truncated    bool       `json:"truncated"`
	Class        string     `json:"class"` // "" until processed, or when unreadable
	ProcessedAt  *time.Time `json:"processed_at"`
	Attempts     int        `json:"attempts"` // failed processings
	Error        string     `json:"error"`
	// Delivery is the delivery the message was attributed to (nil: none).
	Delivery *ShownDelivery `json:"delivery"`
	// Did is what processing did (act's Did* words), [] when nothing.
	Did []string `json:"did"`
	// Forward is the forward of a human reply, when one is queued.
	Forward *ShownForward `json:"forward"`
	// Text is the decoded text of the message (classify.Classify), at most
	// MaxShownText bytes; TextTruncated says it was cut.
	Text          string `json:"text"`
	TextTruncated bool   `json:"text_truncated"`
	// TextError is why the text could not be read ("" when it could).
	TextError string `json:"text_error"`
}

// ShownDelivery is the delivery a message answers.
type ShownDelivery struct {
	ID        int64  `json:"id"`
	Campaign  string `json:"campaign"`
	Run       int    `json:"run"` // the run's number in its campaign, from 1
	AlumnusID int64  `json:"alumnus_id"`
	Email     string `json:"email"` // "" once the person was forgotten
}

// ShownForward is the forward of a reply to the campaign's reply_to.
type ShownForward struct {
	To    string `json:"to"`
	State string `json:"state"` // pending, sending, sent, failed
}

// Show reads stored message id with its classification and decoded text. A
// message that does not exist gives an error wrapping store.ErrNotFound.
func Show(ctx context.Context, db sqlx.QueryerContext, id int64) (Shown, error) {
	var row struct {
		ID           int64          `db:"id"`
		ReceivedAt   time.Time      `db:"received_at"`
		Source       Source         `db:"source"`
		EnvelopeFrom string         `db:"envelope_from"`
		EnvelopeTo   pq.StringArray `db:"envelope_to"`
		Raw          []byte         `db:"raw"`
		Size         int            `db:"size"`
		Truncated    bool           `db:"truncated"`
		MessageID    string         `db:"message_id"`
		Class        string         `db:"class"`
		DeliveryID   sql.NullInt64  `db:"delivery_id"`
		Result       []byte         `db:"result"`
		ProcessedAt  sql.NullTime   `db:"processed_at"`
		Error        string         `db:"error"`
		Attempts     int            `db:"attempts"`
		ForwardTo    sql.NullString `db:"forward_to"`
		ForwardState sql.NullString `db:"forward_state"`
	}
	if err := sqlx.GetContext(ctx, db, &row, qShowMessage, id); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Shown{}, fmt.Errorf("inbound message %d: %w", id, store.ErrNotFound)
		}
		return Shown{}, fmt.Errorf("inbound: show message %d: %w", id, err)
	}
	s := Shown{ID: row.ID, ReceivedAt: row.ReceivedAt, Source: row.Source, EnvelopeFrom: row.EnvelopeFrom,
		EnvelopeTo: []string(row.EnvelopeTo), MessageID: row.MessageID, Size: row.Size, Truncated: row.Truncated,
		Class: row.Class, Attempts: row.Attempts, Error: row.Error, Did: []string{}}
	if s.EnvelopeTo == nil {
		s.EnvelopeTo = []string{}
	}
	if row.ProcessedAt.Valid {
		s.ProcessedAt = &row.ProcessedAt.Time
	}
	if row.ForwardTo.Valid {
		s.Forward = &ShownForward{To: row.ForwardTo.String, State: row.ForwardState.String}
	}
	if len(row.Result) > 0 {
		var rec struct {
			Did []string `json:"did"`
		}
		if json.Unmarshal(row.Result, &rec) == nil && rec.Did != nil {
			s.Did = rec.Did
		}
	}
	h := readHeader(row.Raw)
	if v, err := h.Subject(); err == nil {
		s.Subject = v
	} else {
		s.Subject = h.Get("Subject")
	}
	if as, err := h.AddressList("From"); err == nil && len(as) > 0 {
		s.From = as[0].Address
	} else {
		s.From = h.Get("From")
	}
	if r, err := safeClassify(row.Raw); err != nil {
		s.TextError = err.Error()
	} else {
		s.Text = r.Text
		if s.From == "" {
			s.From = r.From
		}
	}
	if len(s.Text) > MaxShownText {
		cut := MaxShownText
		for cut > 0 && !utf8.RuneStart(s.Text[cut]) {
			cut--
		}
		s.Text, s.TextTruncated = s.Text[:cut], true
	}
	if row.DeliveryID.Valid {
		d := &ShownDelivery{ID: row.DeliveryID.Int64}
		if rc, err := runs.DeliveryRecipient(ctx, db, d.ID); err == nil {
			d.Campaign, d.Run, d.AlumnusID = rc.CampaignID, rc.RunNumber, rc.AlumniID
			d.Email = rc.Email.String
		} else if !errors.Is(err, store.ErrNotFound) {
			return Shown{}, fmt.Errorf("inbound: show message %d: %w", id, err)
		}
		s.Delivery = d
	}
	return s, nil
}
