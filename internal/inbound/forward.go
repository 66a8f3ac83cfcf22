package inbound

// The forwarder: human replies go to the campaign's reply_to through the
// relay, from a durable outbox (inbound_forwards): claim under a lease →
// send → record. Nothing is lost (a forwarder that dies leaves a lease
// that expires) and nothing is sent twice, except a forward the relay
// accepted in the moment before its forwarder died (the one window every
// SMTP client has: mailer.Sender).

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	gomail "github.com/emersion/go-message/mail"
	"github.com/jmoiron/sqlx"

	"github.com/kizuna-alumni/kizuna/internal/inbound/classify"
	"github.com/kizuna-alumni/kizuna/internal/mailer"
	"github.com/kizuna-alumni/kizuna/internal/runs"
)

// Defaults of Forwarder.
const (
	DefaultForwardPoll        = 2 * time.Second
	DefaultForwardLease       = 2 * time.Minute
	DefaultForwardMaxAttempts = 10
	forwardBatch              = 20
)

// ForwardNote is the first line of every forward's text: what it is.
const ForwardNote = "転送: alumni reply via Kizuna"

// Forwarder sends the queued forwards of human replies. Run one or more
// (in several processes too: claims skip each other's rows).
type Forwarder struct {
	DB *sqlx.DB
	// Sender is the relay (KIZUNA_SMTP_URL). The forwarder is its only
	// user: a Sender is not safe for concurrent use.
	Sender mailer.Sender
	// EnvelopeFrom is the reverse-path of forwards; "" uses the address of
	// the campaign's From. The inbound address is a good choice: a forward
	// the relay cannot deliver comes back there, is classified as a
	// bounce, and is never forwarded.
	EnvelopeFrom string
	Log          *slog.Logger
	// Poll is how often Run looks for due forwards (DefaultForwardPoll).
	Poll time.Duration
	// Lease is how long a claimed forward is this forwarder's before
	// another may take it (DefaultForwardLease).
	Lease time.Duration
	// MaxAttempts is how many tries a forward gets before it is marked
	// failed (DefaultForwardMaxAttempts).
	MaxAttempts int
	// Backoff is the wait before try attempt+1 after try attempt failed
	// temporarily (mailer.BackoffDelay when nil).
	Backoff func(attempt int) time.Duration
}

type forwardRow struct {
	ID        int64  `db:"id"`
	InboundID int64  `db:"inbound_id"`
	To        string `db:"to_address"`
	Attempts  int    `db:"attempts"`
}

// Run forwards due replies every Poll until ctx ends; it returns nil then.
// Database errors are logged and retried at the next poll.
func (f *Forwarder) Run(ctx context.Context) error {
	poll := f.Poll
	if poll <= 0 {
		poll = DefaultForwardPoll
	}
	defer f.Sender.Close()
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if _, err := f.Pass(ctx); err != nil && ctx.Err() == nil {
			f.log().Error("forward replies", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Pass claims the forwards that are due and sends each, recording what
// the relay said: sent; back to pending with backoff after a temporary
// failure (a 4xx, an unreachable relay, a dropped connection, a refused
// sender or login); failed after a permanent refusal of the recipient or
// message (a 5xx) or MaxAttempts tries. It returns how many
// were sent.
func (f *Forwarder) Pass(ctx context.Context) (int, error) {
	lease := f.Lease
	if lease <= 0 {
		lease = DefaultForwardLease
	}
	sent := 0
	for ctx.Err() == nil {
		var rows []forwardRow
		if err := f.DB.SelectContext(ctx, &rows, qClaimForwards, lease.Seconds(), forwardBatch); err != nil {
			return sent, fmt.Errorf("claim forwards: %w", err)
		}
		if len(rows) == 0 {
			return sent, nil
		}
		relayDown := false
		for _, row := range rows {
			if relayDown {
				// The relay is not answering: the rest wait for the next
				// pass without spending a try each on a dial.
				if err := f.retry(ctx, row, "relay unreachable", time.Second, true); err != nil {
					return sent, err
				}
				continue
			}
			ok, down, err := f.forward(ctx, row)
			if err != nil {
				return sent, err
			}
			if ok {
				sent++
			}
			relayDown = down
		}
		if relayDown {
			return sent, nil
		}
	}
	return sent, nil
}

// forward sends one claimed forward and records the result; down reports
// a relay that could not be reached.
func (f *Forwarder) forward(ctx context.Context, row forwardRow) (ok, down bool, err error) {
	env, err := f.build(ctx, row)
	if err != nil {
		// The stored message cannot be forwarded (gone, unreadable):
		// trying again does not help.
		f.log().Error("forward: cannot build the message", "forward_id", row.ID, "inbound_id", row.InboundID, "err", err)
		return false, false, f.record(ctx, qForwardFailed, row.ID, err.Error(), row.Attempts)
	}
	sendErr := f.Sender.Send(ctx, env)
	if sendErr == nil {
		return true, false, f.record(ctx, qForwardSent, row.ID, f.Sender.LastReply(), row.Attempts)
	}
	reply := mailer.Explain(sendErr)
	var se *mailer.SendError
	outcome := mailer.Temporary
	if errors.As(sendErr, &se) {
		outcome = se.Outcome
	}
	max := f.MaxAttempts
	if max <= 0 {
		max = DefaultForwardMaxAttempts
	}
	switch {
	case outcome == mailer.Temporary || outcome == mailer.RelayUnavailable || outcome == mailer.SenderRejected:
		// A rejected sender is the relay's configuration, not the
		// forward's: it may be fixed while the forward waits.
		if row.Attempts >= max {
			f.log().Warn("forward failed after retries", "forward_id", row.ID, "attempts", row.Attempts, "reply", reply)
			return false, false, f.record(ctx, qForwardFailed, row.ID, reply, row.Attempts)
		}
		wait := mailer.BackoffDelay(row.Attempts, nil)
		if f.Backoff != nil {
			wait = f.Backoff(row.Attempts)
		}
		return false, outcome == mailer.RelayUnavailable, f.retry(ctx, row, reply, wait, false)
	default:
		f.log().Warn("forward refused", "forward_id", row.ID, "reply", reply)
		return false, false, f.record(ctx, qForwardFailed, row.ID, reply, row.Attempts)
	}
}

// retry puts row back to wait; giveBack returns the claim's try (the
// forward was not attempted).
func (f *Forwarder) retry(ctx context.Context, row forwardRow, reply string, wait time.Duration, giveBack bool) error {
	attempt := row.Attempts
	res, err := f.DB.ExecContext(ctx, qForwardRetry, row.ID, reply, wait.Seconds(), attempt)
	if err != nil {
		return fmt.Errorf("record forward %d: %w", row.ID, err)
	}
	if giveBack {
		if n, _ := res.RowsAffected(); n > 0 {
			if _, err := f.DB.ExecContext(ctx, qForwardGiveBack, row.ID); err != nil {
				return fmt.Errorf("record forward %d: %w", row.ID, err)
			}
		}
	}
	return nil
}

func (f *Forwarder) record(ctx context.Context, q string, id int64, reply string, attempt int) error {
	if _, err := f.DB.ExecContext(ctx, q, id, reply, attempt); err != nil {
		return fmt.Errorf("record forward %d: %w", id, err)
	}
	return nil
}

func (f *Forwarder) log() *slog.Logger {
	if f.Log != nil {
		return f.Log
	}
	return slog.Default()
}

// build makes the forward of row's inbound message: From the campaign's
// From, To the reply_to, Reply-To the alumnus, the subject kept,
// In-Reply-To and References continuing the alumnus's thread, the note and
// the original text, and the original message attached whole when it was
// stored whole (message/rfc822 in 7bit or 8bit, RFC 2046 §5.2.1, or
// original.eml when it is not legal mail text: originalHeader), so nothing
// the alumnus sent (attachments, HTML) is lost. Auto-Submitted:
// auto-forwarded (RFC 3834 §5) keeps the reply_to's own automatic replies
// from answering it. The Message-ID is derived from the forward, so a
// forward sent again is the same message.
func (f *Forwarder) build(ctx context.Context, row forwardRow) (mailer.Envelope, error) {
	var src struct {
		Raw        []byte    `db:"raw"`
		Truncated  bool      `db:"truncated"`
		SHA        []byte    `db:"sha256"`
		ReceivedAt time.Time `db:"received_at"`
		DeliveryID int64     `db:"delivery_id"`
	}
	if err := f.DB.GetContext(ctx, &src, qForwardSource, row.InboundID); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return mailer.Envelope{}, fmt.Errorf("inbound message %d is gone", row.InboundID)
		}
		return mailer.Envelope{}, err
	}
	r, err := classify.Classify(src.Raw)
	if err != nil {
		return mailer.Envelope{}, fmt.Errorf("read inbound message %d: %w", row.InboundID, err)
	}
	var from *gomail.Address
	campaign := ""
	if src.DeliveryID > 0 {
		rc, err := runs.DeliveryRecipient(ctx, f.DB, src.DeliveryID)
		if err != nil {
			return mailer.Envelope{}, err
		}
		campaign = rc.CampaignID
		if rc.Campaign != nil {
			from, _ = gomail.ParseAddress(rc.Campaign.From)
		}
	}
	if from == nil {
		if f.EnvelopeFrom == "" {
			return mailer.Envelope{}, fmt.Errorf("inbound message %d: no campaign From to forward from", row.InboundID)
		}
		from = &gomail.Address{Address: f.EnvelopeFrom}
	}
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]

	var h gomail.Header
	h.SetDate(time.Now())
	h.SetAddressList("From", []*gomail.Address{from})
	h.SetAddressList("To", []*gomail.Address{{Address: row.To}})
	if r.From != "" {
		h.SetAddressList("Reply-To", []*gomail.Address{{Address: r.From}})
	}
	h.SetSubject(r.Subject)
	h.SetMessageID(fmt.Sprintf("f%d.%s@%s", row.ID, hex.EncodeToString(src.SHA[:min(len(src.SHA), 8)]), domain))
	refs := append([]string(nil), r.References...)
	if r.InReplyTo != "" && !containsID(refs, r.InReplyTo) {
		refs = append(refs, r.InReplyTo)
	}
	if r.MessageID != "" {
		h.SetMsgIDList("In-Reply-To", []string{r.MessageID})
		refs = append(refs, r.MessageID)
	}
	if len(refs) > 0 {
		h.SetMsgIDList("References", refs)
	}
	h.Set("Auto-Submitted", "auto-forwarded")

	var text strings.Builder
	text.WriteString(ForwardNote + "\n")
	fmt.Fprintf(&text, "From: %s\n", r.From)
	if !r.Date.IsZero() {
		fmt.Fprintf(&text, "Date: %s\n", r.Date.Format(time.RFC1123Z))
	}
	fmt.Fprintf(&text, "Subject: %s\n", r.Subject)
	if campaign != "" {
		fmt.Fprintf(&text, "Campaign: %s\n", campaign)
	}
	text.WriteString("\n")
	text.WriteString(r.Text)
	if src.Truncated {
		text.WriteString("\n\n(The original message was larger than the size limit: only its beginning was kept.)\n")
	}

	var buf bytes.Buffer
	mw, err := gomail.CreateWriter(&buf, h)
	if err != nil {
		return mailer.Envelope{}, err
	}
	var th gomail.InlineHeader
	th.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	th.Set("Content-Transfer-Encoding", "quoted-printable")
	w, err := mw.CreateSingleInline(th)
	if err != nil {
		return mailer.Envelope{}, err
	}
	if _, err := w.Write([]byte(text.String())); err != nil {
		return mailer.Envelope{}, err
	}
	if err := w.Close(); err != nil {
		return mailer.Envelope{}, err
	}
	eightBit := false
	if !src.Truncated {
		ah, bit8 := originalHeader(src.Raw)
		eightBit = bit8
		aw, err := mw.CreateAttachment(ah)
		if err != nil {
			return mailer.Envelope{}, err
		}
		if _, err := aw.Write(src.Raw); err != nil {
			return mailer.Envelope{}, err
		}
		if err := aw.Close(); err != nil {
			return mailer.Envelope{}, err
		}
	}
	if err := mw.Close(); err != nil {
		return mailer.Envelope{}, err
	}
	data := buf.Bytes()
	if eightBit {
		// A multipart that holds an 8bit part is itself 8bit (RFC 2045
		// §6.4); go-message drops the field from multipart headers, so it
		// is added to the finished header block.
		if i := bytes.Index(data, []byte("\r\n\r\n")); i >= 0 {
			data = slices.Concat(data[:i+2], []byte("Content-Transfer-Encoding: 8bit\r\n"), data[i+2:])
		}
	}
	envFrom := f.EnvelopeFrom
	if envFrom == "" {
		envFrom = from.Address
	}
	return mailer.Envelope{From: envFrom, To: row.To, Data: data}, nil
}

func containsID(ids []string, id string) bool { return slices.Contains(ids, id) }

// maxLine is the longest line RFC 5322 §2.1.1 allows, in octets without
// its CRLF.
const maxLine = 998

// originalHeader is how the original message is attached to its forward
// and whether the attachment is 8bit.
//
// A message/rfc822 part may only be 7bit, 8bit or binary (RFC 2046
// §5.2.1): base64 or quoted-printable make it unreadable as a message to
// parsers that follow the RFC (Python's email package, and mail clients
// that show it inline). So an original that is legal mail text — every
// line at most 998 octets (RFC 5322 §2.1.1), no NUL, no CR outside a CRLF
// (RFC 2045 §2.7, §2.8) — goes as message/rfc822, 7bit when it is all
// ASCII, else 8bit. internal/mailer does not tell its callers whether the
// relay offers 8BITMIME (RFC 6152); it asks for BODY=8BITMIME when the
// relay does and sends the 8-bit body as it is otherwise, which the relays
// Kizuna is used with (Postfix, Microsoft 365, Google Workspace, Amazon
// SES) accept: the original arrives byte for byte, which is what HR needs.
//
// An original that is not legal mail text (a line longer than 998 octets,
// a NUL, a bare CR) cannot be message/rfc822 without re-encoding its
// parts, which would change it. It goes whole as application/octet-stream
// "original.eml" in base64: every client that HR uses (Outlook, Gmail,
// Apple Mail, Thunderbird) opens an .eml attachment as a message by its
// name, and nothing the alumnus sent is lost, where text/rfc822-headers
// would keep only the header and drop the body and its attachments.
func originalHeader(raw []byte) (h gomail.AttachmentHeader, eightBit bool) {
	h.SetFilename("original.eml")
	legal, ascii := mailText(raw)
	switch {
	case legal && ascii:
		h.SetContentType("message/rfc822", nil)
		h.Set("Content-Transfer-Encoding", "7bit")
	case legal:
		h.SetContentType("message/rfc822", nil)
		h.Set("Content-Transfer-Encoding", "8bit")
		eightBit = true
	default:
		h.SetContentType("application/octet-stream", map[string]string{"name": "original.eml"})
		h.Set("Content-Transfer-Encoding", "base64")
	}
	return h, eightBit
}

// mailText reports whether b can be sent as 7bit or 8bit text (legal: no
// line longer than maxLine octets, no NUL, every CR followed by LF; LF
// alone ends a line too, the mailer writes it as CRLF) and whether it is
// all ASCII.
func mailText(b []byte) (legal, ascii bool) {
	ascii = true
	line := 0
	for i, c := range b {
		switch {
		case c == '\n':
			line = 0
			continue
		case c == '\r':
			if i+1 >= len(b) || b[i+1] != '\n' {
				return false, ascii
			}
			continue
		case c == 0:
			return false, ascii
		case c >= 0x80:
			ascii = false
		}
		if line++; line > maxLine {
			return false, ascii
		}
	}
	return true, ascii
}
