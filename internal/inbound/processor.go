// Package inbound takes in the mail that comes back to Kizuna's inbound
// address — replies, automatic replies, bounces, calendar answers,
// requests to stop, complaints — and acts on it. Mail arrives two ways into
// one pipeline: an SMTP/LMTP listener (Listener) and an IMAP mailbox poller
// (Poller). Each message is stored raw (size-limited, deduplicated by its
// sha256) BEFORE anything else happens, then a Processor classifies it
// (package classify), attributes it to a delivery and applies what its
// class calls for, in one transaction per message. A failure leaves the
// message stored and unprocessed, to be tried again; nothing is dropped.
//
// The package owns the tables inbound_messages and inbound_forwards.
package inbound

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/kizuna-alumni/kizuna/internal/inbound/classify"
	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/token"
)

// DefaultMaxBytes is the default size limit of a stored message
// (KIZUNA_INBOUND_MAX_BYTES): 10 MiB.
const DefaultMaxBytes = 10 << 20

// Source says how a message came in (inbound_messages.source).
type Source string

// Sources of inbound mail.
const (
	SourceSMTP Source = "smtp" // the SMTP listener (an MX or a forwarding rule)
	SourceLMTP Source = "lmtp" // the LMTP listener (RFC 2033: a local MTA hands mail over)
	SourceIMAP Source = "imap" // the IMAP poller
)

// Sources lists every Source, as the schema's CHECK constraint allows them.
var Sources = []string{string(SourceSMTP), string(SourceLMTP), string(SourceIMAP)}

// Stored is one stored inbound message as the processor reads it.
type Stored struct {
	ID           int64          `db:"id"`
	ReceivedAt   time.Time      `db:"received_at"`
	Source       Source         `db:"source"`
	EnvelopeFrom string         `db:"envelope_from"` // MAIL FROM ("" for a bounce's null sender; Return-Path for IMAP)
	EnvelopeTo   pq.StringArray `db:"envelope_to"`   // RCPT TO (Delivered-To / X-Original-To for IMAP)
	Raw          []byte         `db:"raw"`           // at most the size limit
	Size         int            `db:"size"`          // the whole message's size in bytes
	Truncated    bool           `db:"truncated"`     // Raw is the first part of a larger message
	MessageID    string         `db:"message_id"`    // without angle brackets
	ProcessedAt  sql.NullTime   `db:"processed_at"`
}

// Outcome is what acting on a message did: the delivery it was attributed
// to (0: none) and a short line per effect, kept in the message's result.
type Outcome struct {
	DeliveryID int64
	Did        []string
	alerts     []alert // logged once the message's transaction commits
}

// alert is an ALERT line for HR (slog Error): a message and its attributes.
type alert struct {
	msg  string
	args []any
}

// record is what inbound_messages.result holds.
type record struct {
	Result classify.Result `json:"result"`
	Did    []string        `json:"did"`
}

// Options configure a Processor.
type Options struct {
	DB  *sqlx.DB
	Log *slog.Logger // nil: discard
	// MaxBytes is the size limit of a stored message in bytes (0:
	// DefaultMaxBytes). A longer message keeps its first MaxBytes bytes
	// and is marked truncated; its sha256 is that of the whole message.
	MaxBytes int64
	// Address is KIZUNA_INBOUND_ADDRESS, the address replies and bounces
	// come back to ("reply@in.example.co.jp").
	Address string
	// Signer verifies the tokens in reply+TOKEN@ addresses and Message-IDs.
	Signer *token.Signer
	// Enqueue hands the notices a calendar reply causes (RSVP
	// confirmations) to send tasks; nil: the workers' reconciler does.
	Enqueue runs.Enqueue
	// PollEvery is how often Run looks for unprocessed messages when
	// nothing woke it (messages stored by another process, retries); 0: 2 s.
	PollEvery time.Duration
	// RetryMin and RetryMax bound the wait before a message whose
	// processing failed is tried again (doubling from RetryMin); 0: 1 s
	// and 30 min.
	RetryMin, RetryMax time.Duration
	// MaxAttempts is how many failed processings a message gets before it
	// is given up: marked processed with its error, listed as unattributed
	// (0: DefaultMaxAttempts). The count is kept in the database, so it
	// survives restarts.
	MaxAttempts int
}

// DefaultMaxAttempts is how many times a message whose processing fails is
// tried before it is given up (with the default waits, 1 s doubling to 30
// min: about 6 hours).
const DefaultMaxAttempts = 20

// Processor stores inbound messages and processes them. It is safe for
// concurrent use; any number of Processors (in any number of processes)
// may run over one database: a message is processed by one at a time.
type Processor struct {
	db                 *sqlx.DB
	log                *slog.Logger
	maxBytes           int64
	address            string
	signer             *token.Signer
	enqueue            runs.Enqueue
	pollEvery          time.Duration
	retryMin, retryMax time.Duration
	maxAttempts        int

	wake      chan struct{}
	processed atomic.Int64

	mu    sync.Mutex
	retry map[int64]retryState // messages whose processing failed here, by id
}

type retryState struct {
	failures int
	next     time.Time
}

// New builds a Processor. It fails without a database.
func New(o Options) (*Processor, error) {
	if o.DB == nil {
		return nil, errors.New("inbound: no database")
	}
	p := &Processor{
		db: o.DB, log: o.Log, maxBytes: o.MaxBytes, address: o.Address, signer: o.Signer, enqueue: o.Enqueue,
		pollEvery: o.PollEvery, retryMin: o.RetryMin, retryMax: o.RetryMax, maxAttempts: o.MaxAttempts,
		wake: make(chan struct{}, 1), retry: map[int64]retryState{},
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.maxBytes <= 0 {
		p.maxBytes = DefaultMaxBytes
	}
	if p.pollEvery <= 0 {
		p.pollEvery = 2 * time.Second
	}
	if p.retryMin <= 0 {
		p.retryMin = time.Second
	}
	if p.retryMax <= 0 {
		p.retryMax = 30 * time.Minute
	}
	if p.maxAttempts <= 0 {
		p.maxAttempts = DefaultMaxAttempts
	}
	return p, nil
}

// MaxBytes is the size limit of a stored message in bytes.
func (p *Processor) MaxBytes() int64 { return p.maxBytes }

// Processed is how many messages this Processor has processed (each
// successful Process, by Run, Process or Reprocess).
func (p *Processor) Processed() int64 { return p.processed.Load() }

// Wake tells Run that a message was stored, so it looks at once instead of
// at its next poll.
func (p *Processor) Wake() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Store stores one received message: see StoreReader.
func (p *Processor) Store(ctx context.Context, source Source, envFrom string, envTo []string, raw []byte) (id int64, dup bool, err error) {
	return p.StoreReader(ctx, source, envFrom, envTo, bytes.NewReader(raw))
}

// StoreReader reads one whole message from r and stores it, unprocessed:
// its first MaxBytes bytes (truncated when it is longer), its full size and
// the sha256 of all of it. A message stored before (the same bytes) is not
// stored again: dup is true and id is the stored one's. For SourceIMAP, an
// empty envelope is taken from the headers the mailbox server wrote
// (Return-Path; Delivered-To, X-Original-To, Envelope-To). The error of
// reading r is returned as is (the SMTP listener answers 552 on its size
// error). A message with no header field (empty, blank lines, text that is
// not a header) is not stored from the SMTP or LMTP listener: ErrNoHeader
// (the listener refuses it 554); from a mailbox it is stored, and its
// processing records it as unreadable.
func (p *Processor) StoreReader(ctx context.Context, source Source, envFrom string, envTo []string, r io.Reader) (id int64, dup bool, err error) {
	h := sha256.New()
	kept := &headWriter{limit: p.maxBytes}
	n, err := io.Copy(io.MultiWriter(h, kept), r)
	if err != nil {
		return 0, false, err
	}
	sum := h.Sum(nil)
	hdr := readHeader(kept.buf.Bytes())
	if hdr.Len() == 0 && source != SourceIMAP {
		return 0, false, ErrNoHeader
	}
	raw := kept.buf.Bytes()
	if raw == nil {
		raw = []byte{} // raw is NOT NULL: an empty message is stored empty
	}
	if source == SourceIMAP && envFrom == "" && len(envTo) == 0 {
		envFrom, envTo = headerEnvelope(hdr)
	}
	if envTo == nil {
		envTo = []string{}
	}
	size := n
	if size > math.MaxInt32 {
		size = math.MaxInt32
	}
	err = p.db.GetContext(ctx, &id, qStoreMessage, string(source), envFrom, pq.StringArray(envTo),
		raw, size, n > p.maxBytes, sum, messageID(hdr))
	if errors.Is(err, sql.ErrNoRows) {
		if err = p.db.GetContext(ctx, &id, qMessageBySHA256, sum); err != nil {
			return 0, false, fmt.Errorf("inbound: find the stored copy of a duplicate message: %w", err)
		}
		return id, true, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("inbound: store a message from %s: %w", source, err)
	}
	return id, false, nil
}

// ErrNoHeader is StoreReader's refusal of a message that has no header
// field (RFC 5322 §3.5: a message is header fields, then an optional
// body): empty, only blank lines, or text that does not start with a
// field. It could never be classified or attributed.
var ErrNoHeader = errors.New("inbound: the message has no header")

// headWriter keeps the first limit bytes written to it and counts the rest
// away.
type headWriter struct {
	buf   bytes.Buffer
	limit int64
}

func (w *headWriter) Write(b []byte) (int, error) {
	if room := w.limit - int64(w.buf.Len()); room > 0 {
		w.buf.Write(b[:min(int64(len(b)), room)])
	}
	return len(b), nil
}

// readHeader reads a message's header block, as much of it as is
// readable (a malformed line ends it).
func readHeader(raw []byte) mail.Header {
	h, _ := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	return mail.Header{Header: message.Header{Header: h}}
}

// messageID is a header's Message-ID without angle brackets ("" when there
// is none), at most 998 bytes (RFC 5322 §2.1.1's line limit).
func messageID(h mail.Header) string {
	id := strings.TrimSpace(h.Get("Message-Id"))
	id = strings.TrimSuffix(strings.TrimPrefix(id, "<"), ">")
	if len(id) > 998 {
		id = id[:998]
	}
	return id
}

// headerEnvelope is the envelope a mailbox server recorded in the header
// of a delivered message: the Return-Path (RFC 5321 §4.4) and the
// Delivered-To / X-Original-To / Envelope-To addresses.
func headerEnvelope(h mail.Header) (from string, to []string) {
	from = strings.TrimSpace(h.Get("Return-Path"))
	from = strings.TrimSuffix(strings.TrimPrefix(from, "<"), ">")
	for _, k := range []string{"Delivered-To", "X-Original-To", "Envelope-To"} {
		for _, v := range h.Values(k) {
			for _, a := range strings.Split(v, ",") {
				a = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(a), "<"), ">"))
				if a != "" && !slices.Contains(to, a) {
					to = append(to, a)
				}
			}
		}
	}
	return from, to
}

// Process classifies stored message id and acts on it, in one transaction
// that holds the message's row lock: the class, the attributed delivery, the
// result and processed_at are written with the effects. A message processed
// already is left alone (nil). A message the classifier cannot read (empty,
// no header: it would never read it) is marked processed with the reason in
// its error column, and Process returns nil. On any other error nothing of
// the attempt remains but the error text in the message's error column; the
// message stays unprocessed and Run tries it again later (at most
// MaxAttempts times).
func (p *Processor) Process(ctx context.Context, id int64) error {
	_, err := p.process(ctx, id)
	return err
}

// process is Process; unreadable is the classifier's error when the
// message was marked processed as unreadable.
func (p *Processor) process(ctx context.Context, id int64) (unreadable error, err error) {
	tx, err := p.db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("inbound: process message %d: %w", id, err)
	}
	defer tx.Rollback()
	var m Stored
	if err := tx.GetContext(ctx, &m, qLockMessage, id); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("inbound: no stored message %d", id)
		}
		return nil, fmt.Errorf("inbound: process message %d: %w", id, err)
	}
	if m.ProcessedAt.Valid {
		return nil, nil
	}
	return p.handle(ctx, tx, m)
}

// processNext processes the oldest unprocessed message no one else holds;
// false when there is none.
func (p *Processor) processNext(ctx context.Context) (bool, error) {
	tx, err := p.db.BeginTxx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("inbound: take the next message: %w", err)
	}
	defer tx.Rollback()
	var m Stored
	err = tx.GetContext(ctx, &m, qLockNextUnprocessed, pq.Int64Array(p.waiting(time.Now())))
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("inbound: take the next message: %w", err)
	}
	_, err = p.handle(ctx, tx, m)
	return true, err
}

// handle classifies and acts on m in tx (which holds m's lock) and commits;
// on an error it rolls tx back and records the error. unreadable is the
// classifier's error when m was recorded as unreadable (processed).
func (p *Processor) handle(ctx context.Context, tx *sqlx.Tx, m Stored) (unreadable error, err error) {
	var alerts []alert
	unreadable, alerts, err = p.apply(ctx, tx, m)
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		tx.Rollback()
		p.failed(ctx, m.ID, err)
		return nil, fmt.Errorf("inbound: process message %d: %w", m.ID, err)
	}
	p.mu.Lock()
	delete(p.retry, m.ID)
	p.mu.Unlock()
	p.processed.Add(1)
	for _, a := range alerts {
		p.log.Error(a.msg, append(a.args, "inbound_id", m.ID)...)
	}
	return unreadable, nil
}

// DidForwardExists replaces DidForwardQueued in a message's result when
// its forward was queued before (a reprocessed reply): nothing is queued
// again.
const DidForwardExists = "forward_exists"

func (p *Processor) apply(ctx context.Context, tx *sqlx.Tx, m Stored) (unreadable error, alerts []alert, err error) {
	r, err := safeClassify(m.Raw)
	if err != nil {
		// The classifier is pure: the same bytes fail the same way on
		// every try. The message is kept, processed, with the reason.
		if _, xerr := tx.ExecContext(ctx, qRecordUnreadable, m.ID, err.Error()); xerr != nil {
			return nil, nil, fmt.Errorf("record an unreadable message: %w", xerr)
		}
		p.log.Warn("inbound message unreadable; kept, not acted on", "inbound_id", m.ID, "err", err)
		return err, nil, nil
	}
	var forwarded bool
	if err := tx.GetContext(ctx, &forwarded, qForwardExists, m.ID); err != nil {
		return nil, nil, fmt.Errorf("look for a queued forward: %w", err)
	}
	out, err := p.act(ctx, tx, m, r)
	if err != nil {
		return nil, nil, err
	}
	if forwarded {
		for i, d := range out.Did {
			if d == DidForwardQueued {
				out.Did[i] = DidForwardExists
			}
		}
	}
	res, err := json.Marshal(record{Result: r, Did: out.Did})
	if err != nil {
		return nil, nil, fmt.Errorf("encode the result: %w", err)
	}
	delivery := sql.NullInt64{Int64: out.DeliveryID, Valid: out.DeliveryID != 0}
	if _, err := tx.ExecContext(ctx, qRecordProcessed, m.ID, string(r.Class), delivery, res); err != nil {
		return nil, nil, fmt.Errorf("record the result: %w", err)
	}
	p.log.Info("inbound message processed", "inbound_id", m.ID, "class", r.Class,
		"delivery_id", out.DeliveryID, "did", strings.Join(out.Did, "; "))
	return nil, out.alerts, nil
}

// safeClassify runs the classifier, turning a panic into an error: the
// intake never stops over one message.
func safeClassify(raw []byte) (r classify.Result, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("classifier panic: %v", v)
		}
	}()
	return classify.Classify(raw)
}

// failed records a failed processing of message id and schedules its retry
// with a doubling wait; after MaxAttempts failures (counted in the
// database) the message is given up: processed, with its error. A
// processing cut short by the end of ctx (a shutdown) is not counted.
func (p *Processor) failed(ctx context.Context, id int64, cause error) {
	msg := cause.Error()
	if len(msg) > 2000 {
		msg = msg[:2000]
	}
	counted := 1
	if ctx.Err() != nil {
		counted = 0
	}
	// A context already ended (shutdown) still gets the error written.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var rec struct {
		Attempts int  `db:"attempts"`
		GivenUp  bool `db:"given_up"`
	}
	if err := p.db.GetContext(wctx, &rec, qRecordError, id, msg, counted, p.maxAttempts); err != nil && !errors.Is(err, sql.ErrNoRows) {
		p.log.Warn("inbound: could not record a processing error", "inbound_id", id, "err", err)
	}
	p.mu.Lock()
	st := p.retry[id]
	st.failures = max(st.failures+1, rec.Attempts)
	wait := p.retryMin << min(st.failures-1, 30)
	if wait <= 0 || wait > p.retryMax {
		wait = p.retryMax
	}
	st.next = time.Now().Add(wait)
	if rec.GivenUp {
		delete(p.retry, id)
	} else {
		p.retry[id] = st
	}
	p.mu.Unlock()
	if rec.GivenUp {
		p.log.Error("inbound message given up after repeated failures; kept, listed as unattributed", "inbound_id", id,
			"attempts", rec.Attempts, "err", cause)
		return
	}
	p.log.Warn("inbound message not processed; will retry", "inbound_id", id, "failures", st.failures,
		"retry_in", wait.Round(time.Millisecond).String(), "err", cause)
}

// waiting lists the messages waiting out a retry at now.
func (p *Processor) waiting(now time.Time) []int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := []int64{}
	for id, st := range p.retry {
		if now.Before(st.next) {
			ids = append(ids, id)
		}
	}
	return ids
}

// Drain processes unprocessed messages until none is left that is not held
// by another processor or waiting out a retry; it returns how many it
// processed and the errors of those that failed (they stay unprocessed).
func (p *Processor) Drain(ctx context.Context) (int, error) {
	var errs []error
	n := 0
	for ctx.Err() == nil {
		found, err := p.processNext(ctx)
		if err != nil {
			errs = append(errs, err)
			if !found {
				break // the database is not answering: Run looks again later
			}
			continue // that message waits out its retry; take the next
		}
		if !found {
			break
		}
		n++
	}
	return n, errors.Join(errs...)
}

// Run processes unprocessed messages until ctx ends: whenever Wake is
// called, and every PollEvery (messages stored by other processes, retries
// that are due). Several Runs, here or in other processes, never process one
// message twice (the rows are taken FOR UPDATE SKIP LOCKED). It returns nil
// when ctx ends.
func (p *Processor) Run(ctx context.Context) error {
	t := time.NewTicker(p.pollEvery)
	defer t.Stop()
	for {
		if _, err := p.Drain(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("inbound: some messages were not processed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-p.wake:
		case <-t.C:
		}
	}
}

// Reprocessed is what Reprocess did.
type Reprocessed struct {
	// Reset is how many messages were made unprocessed and taken again.
	Reset int
	// Unreadable are the messages the classifier cannot read (empty, no
	// header): recorded processed with the reason, not a failure.
	Unreadable []UnreadableMessage
}

// UnreadableMessage is a stored message the classifier cannot read, and
// why.
type UnreadableMessage struct {
	ID  int64
	Err string
}

// Reprocess classifies again every message received at or after since
// (the zero time: all of them) and applies what changed: it makes them
// unprocessed (their failed attempts back to 0), then processes each. The
// effects are idempotent (a suppression twice is one; the same answer
// twice changes nothing; a forward is queued once), so only what the new
// classification finds differently has an effect. A message another
// processor takes meanwhile is processed once, by it. It returns how many
// messages were reset, those found unreadable (processed, reported, not an
// error), and the errors of those that failed (they stay unprocessed, for
// Run to retry).
func (p *Processor) Reprocess(ctx context.Context, since time.Time) (Reprocessed, error) {
	var ids []int64
	if err := p.db.SelectContext(ctx, &ids, qResetSince, since); err != nil {
		return Reprocessed{}, fmt.Errorf("inbound: reprocess: %w", err)
	}
	slices.Sort(ids)
	out := Reprocessed{Reset: len(ids)}
	var errs []error
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		unreadable, err := p.process(ctx, id)
		if err != nil {
			errs = append(errs, err)
		}
		if unreadable != nil {
			out.Unreadable = append(out.Unreadable, UnreadableMessage{ID: id, Err: unreadable.Error()})
		}
	}
	return out, errors.Join(errs...)
}
