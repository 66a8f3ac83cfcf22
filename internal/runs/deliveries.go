package runs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// States of a delivery (deliveries.state, migrations/0002; a test compares
// them with the schema's CHECK constraint).
const (
	DeliveryPending = "pending" // waiting to be sent (or sent again), or being sent under its chunk's lease
	// DeliverySending is no longer written: a claim leases the delivery's
	// chunk (send_leases) and leaves the delivery pending. Databases from
	// before migration 0017 may have had it; the schema still allows it.
	DeliverySending    = "sending"
	DeliverySent       = "sent"       // the relay accepted it
	DeliveryFailed     = "failed"     // the relay refused it for good, or its attempts ran out
	DeliverySuppressed = "suppressed" // not sent: the person cannot be mailed
	DeliveryCancelled  = "cancelled"  // not sent: its run was cancelled
)

// DeliveryStates lists every delivery state.
var DeliveryStates = []string{DeliveryPending, DeliverySending, DeliverySent, DeliveryFailed, DeliverySuppressed, DeliveryCancelled}

// Claimed is one delivery a worker holds under its chunk's lease, with
// what sending it needs: its run and the alumnus it goes to.
type Claimed struct {
	ID         int64          `db:"id"`
	RunID      int64          `db:"run_id"`
	Chunk      int64          `db:"chunk_id"` // the chunk it was claimed in
	AlumniID   int64          `db:"alumni_id"`
	Attempts   int            `db:"attempts"` // including this one
	VersionID  int64          `db:"version_id"`
	CampaignID string         `db:"campaign_id"`
	RunNumber  int            `db:"number"`
	RunKind    string         `db:"kind"`
	Email      sql.NullString `db:"email"` // NULL once the person was forgotten
	FamilyName string         `db:"family_name"`
	GivenName  string         `db:"given_name"`
	Department string         `db:"department"`
	JoinedOn   sql.NullTime   `db:"joined_on"`
	LeftOn     sql.NullTime   `db:"left_on"`
	Locale     string         `db:"locale"`
	TimeZone   string         `db:"timezone"`
	Status     string         `db:"status"`     // the alumnus's status (active, unsubscribed, …)
	Suppressed bool           `db:"suppressed"` // the address is on the suppression list
	// MailKinds is the mail the person still wants: all, newsletter or
	// event (alumni.mail_kinds, saved on the unsubscribe page).
	MailKinds string `db:"mail_kinds"`
	// CampaignKind is the kind of the run's campaign: newsletter or event.
	CampaignKind string `db:"campaign_kind"`
	// Notice is what a delivery of a notice run says (NoticeConfirmYes, …).
	Notice sql.NullString `db:"notice"`
}

// Message names the message the delivery carries, as render.Options.Notice
// does: "" for the campaign's own (a newsletter, an invitation), the run's
// kind for reminders, updates and cancellations, the notice for a
// delivery of a notice run.
func (c Claimed) Message() string {
	if c.Notice.Valid {
		return c.Notice.String
	}
	if c.RunKind == KindSend {
		return ""
	}
	return c.RunKind
}

// Run is the run of the claimed delivery, as far as the claim knows it.
func (c Claimed) Run() Run {
	return Run{ID: c.RunID, CampaignID: c.CampaignID, VersionID: c.VersionID, Number: c.RunNumber, Kind: c.RunKind}
}

// Lease is a chunk's lease as its holder took it: Until, the expiry
// Postgres gave it, is also the holder's token (ExtendLease and EndChunk
// act only on the lease they were given).
type Lease struct {
	Chunk int64
	Until time.Time
}

// ChunkClaim is what a claim of a chunk got: whether it holds the chunk's
// lease (Held), and the claimable deliveries, by id.
type ChunkClaim struct {
	Lease
	Held       bool
	Deliveries []Claimed
}

// Claim leases chunk (of run runID, a task's deliveries ids) for lease
// when no live lease holds it — one upsert of its send_leases row — and
// then reads its claimable deliveries: pending, still in this chunk (not
// handed out again since), of a run that may send, and due. Nothing is
// written to deliveries; each Claimed's Attempts counts this attempt. Two
// claimers of one chunk never both hold it; while one does, the reconciler
// hands none of its deliveries out again. When another live execution
// holds the chunk, the result has Held false and no deliveries: its
// deliveries are being sent, and the caller must leave them alone. A
// holder ends its lease with EndChunk.
func Claim(ctx context.Context, db sqlx.QueryerContext, runID, chunk int64, ids []int64, lease time.Duration) (ChunkClaim, error) {
	return claim(chunk,
		func(until *[]time.Time) error {
			return sqlx.SelectContext(ctx, db, until, qLeaseChunk, chunk, lease.Seconds(), pq.Int64Array(ids))
		},
		func(out *[]Claimed) error {
			return sqlx.SelectContext(ctx, db, out, qClaim, pq.Int64Array(ids), chunk, runID)
		})
}

// scanClaimed appends qClaim's rows to out and closes rows. It scans the
// columns in the order qClaim lists them, without sqlx's reflection: this
// runs for every delivery sent (TestScanClaimedEqualsSqlx compares it with
// sqlx's mapping by name).
func scanClaimed(rows *sql.Rows, out *[]Claimed) error {
	defer rows.Close()
	for rows.Next() {
		var c Claimed
		if err := rows.Scan(&c.ID, &c.RunID, &c.Chunk, &c.AlumniID, &c.Attempts, &c.Notice, &c.VersionID,
			&c.CampaignID, &c.RunNumber, &c.RunKind, &c.Email, &c.FamilyName, &c.GivenName, &c.Department,
			&c.JoinedOn, &c.LeftOn, &c.Locale, &c.TimeZone, &c.Status, &c.MailKinds, &c.CampaignKind,
			&c.Suppressed); err != nil {
			return err
		}
		*out = append(*out, c)
	}
	return rows.Err()
}

// claim takes the lease through take, then reads the deliveries through
// sel, retrying on a deadlock.
func claim(chunk int64, take func(until *[]time.Time) error, sel func(out *[]Claimed) error) (ChunkClaim, error) {
	c := ChunkClaim{Lease: Lease{Chunk: chunk}}
	var until []time.Time
	err := retryDeadlock(func() error { until = until[:0]; return take(&until) })
	if err != nil {
		return c, fmt.Errorf("lease chunk %d: %w", chunk, err)
	}
	if len(until) == 0 {
		return c, nil
	}
	c.Held, c.Until = true, until[0]
	err = retryDeadlock(func() error { c.Deliveries = c.Deliveries[:0]; return sel(&c.Deliveries) })
	if err != nil {
		return c, fmt.Errorf("claim deliveries of chunk %d: %w", chunk, err)
	}
	return c, nil
}

func retryDeadlock(f func() error) error {
	var err error
	for try := 0; try < 3; try++ {
		if err = f(); !isDeadlock(err) {
			break
		}
	}
	return err
}

// Unqueue hands pending deliveries that a task carried but did not send
// back to the reconciler (queued_until NULL), which enqueues them again
// once they are due: a task that could not be enqueued, or a worker that
// is stopping. Deliveries of a chunk leased now are left alone: they are
// being sent.
func Unqueue(ctx context.Context, db sqlx.ExecerContext, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := db.ExecContext(ctx, qUnqueue, pq.Int64Array(ids)); err != nil {
		return fmt.Errorf("unqueue deliveries: %w", err)
	}
	return nil
}

// ExtendLease keeps l's chunk leased for another lease from now, if l is
// still its lease, and returns the extended lease; held is false when the
// lease was lost (it expired and was taken over or forgotten): the chunk
// is no longer the caller's to send.
func ExtendLease(ctx context.Context, db sqlx.QueryerContext, l Lease, lease time.Duration) (next Lease, held bool, err error) {
	var until []time.Time
	if err := sqlx.SelectContext(ctx, db, &until, qExtendLease, l.Chunk, l.Until, lease.Seconds()); err != nil {
		return l, true, fmt.Errorf("extend the lease of chunk %d: %w", l.Chunk, err)
	}
	if len(until) == 0 {
		return l, false, nil
	}
	return Lease{Chunk: l.Chunk, Until: until[0]}, true, nil
}

// EndChunk ends the lease l of a chunk whose results are all recorded and
// hands rest, the deliveries of the chunk that its claim did not get (not
// due, or their run may not send), back to the reconciler. When l is no
// longer the chunk's lease it does nothing: the chunk is someone else's.
func EndChunk(ctx context.Context, db sqlx.ExecerContext, l Lease, rest []int64) error {
	if _, err := db.ExecContext(ctx, qEndChunk, l.Chunk, l.Until, pq.Int64Array(rest)); err != nil {
		return fmt.Errorf("end the lease of chunk %d: %w", l.Chunk, err)
	}
	return nil
}

// Result is what became of one claimed delivery.
type Result struct {
	ID        int64
	Chunk     int64  // the chunk the delivery was claimed in
	State     string // DeliverySent, DeliveryFailed, DeliverySuppressed or DeliveryPending
	MessageID string // of a sent message, without angle brackets
	Reply     string // the relay's reply, or why it was not sent; at most 1,000 bytes are kept
	NotBefore time.Time
	// Uncharged says the delivery was not tried, so no attempt is
	// counted (a throttle, the send window, a paused run, a relay that
	// does not answer, a stopping worker); any other result counts one.
	Uncharged bool
}

// Record writes results, sorted by id, in one statement. A sent result is
// written whatever state the delivery reached meanwhile (the relay took
// the message: that is the truth); the others only while the delivery is
// still pending in the result's chunk (one handed out again since is
// another chunk's). A charged result adds an attempt. A zero NotBefore
// leaves not_before as it is.
func Record(ctx context.Context, db sqlx.ExecerContext, results []Result) error {
	if _, err := db.ExecContext(ctx, qRecord, recordArgs(results)...); err != nil {
		return fmt.Errorf("record deliveries: %w", err)
	}
	return nil
}

// recordArgs sorts results by id and returns qRecord's parameters.
func recordArgs(results []Result) []any {
	sort.Slice(results, func(i, j int) bool { return results[i].ID < results[j].ID })
	n := len(results)
	ids := make([]int64, n)
	states := make([]string, n)
	mids := make([]string, n)
	replies := make([]string, n)
	nbs := make([]string, n)
	atts := make([]int64, n)
	chunks := make([]int64, n)
	for i, r := range results {
		ids[i], states[i], mids[i], replies[i], chunks[i] = r.ID, r.State, r.MessageID, truncate(r.Reply, 1000), r.Chunk
		if !r.Uncharged {
			atts[i] = 1
		}
		if !r.NotBefore.IsZero() {
			nbs[i] = r.NotBefore.UTC().Format(time.RFC3339Nano)
		}
	}
	return []any{pq.Int64Array(ids), pq.StringArray(states), pq.StringArray(mids),
		pq.StringArray(replies), pq.StringArray(nbs), pq.Int64Array(atts), pq.Int64Array(chunks)}
}

// SendStatements are Claim (its two statements) and Record as statements prepared once per
// process (a worker's): Postgres parses and plans them once instead of at
// every chunk and every group commit, which at thousands of messages a
// second is a large part of its work per message. They are prepared at
// first use; while Postgres cannot prepare them, the plain statements
// serve and preparing is tried again at the next use. Safe for concurrent
// use: database/sql prepares each on every pooled connection it runs on.
type SendStatements struct {
	db                   *sqlx.DB
	mu                   sync.Mutex
	lease, claim, record *sqlx.Stmt
}

// NewSendStatements returns the send statements of db; nothing is
// prepared yet.
func NewSendStatements(db *sqlx.DB) *SendStatements { return &SendStatements{db: db} }

// prepared returns the prepared statements, or nils when they cannot be
// prepared now.
func (s *SendStatements) prepared(ctx context.Context) (lease, claim, record *sqlx.Stmt) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range []struct {
		st **sqlx.Stmt
		q  string
	}{{&s.lease, qLeaseChunk}, {&s.claim, qClaim}, {&s.record, qRecord}} {
		if *p.st == nil {
			st, err := s.db.PreparexContext(ctx, p.q)
			if err != nil {
				return nil, nil, nil
			}
			*p.st = st
		}
	}
	return s.lease, s.claim, s.record
}

// Close releases the prepared statements.
func (s *SendStatements) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, st := range []*sqlx.Stmt{s.lease, s.claim, s.record} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	s.lease, s.claim, s.record = nil, nil, nil
	return errors.Join(errs...)
}

// Claim is runs.Claim with the prepared statements.
func (s *SendStatements) Claim(ctx context.Context, runID, chunk int64, ids []int64, lease time.Duration) (ChunkClaim, error) {
	lst, cst, _ := s.prepared(ctx)
	if lst == nil {
		return Claim(ctx, s.db, runID, chunk, ids, lease)
	}
	return claim(chunk,
		func(until *[]time.Time) error {
			return lst.SelectContext(ctx, until, chunk, lease.Seconds(), pq.Int64Array(ids))
		},
		func(out *[]Claimed) error {
			rows, err := cst.QueryContext(ctx, pq.Int64Array(ids), chunk, runID)
			if err != nil {
				return err
			}
			return scanClaimed(rows, out)
		})
}

// Record is runs.Record with the prepared statement, inside tx when tx is
// not nil.
func (s *SendStatements) Record(ctx context.Context, tx *sqlx.Tx, results []Result) error {
	_, _, st := s.prepared(ctx)
	switch {
	case st == nil && tx != nil:
		return Record(ctx, tx, results)
	case st == nil:
		return Record(ctx, s.db, results)
	case tx != nil:
		st = tx.StmtxContext(ctx, st)
	}
	if _, err := st.ExecContext(ctx, recordArgs(results)...); err != nil {
		return fmt.Errorf("record deliveries: %w", err)
	}
	return nil
}

// RecordBounces adds a hard-bounce event (kind bounce, classification
// smtp) to each delivery of ids with the relay's reply of the same index.
func RecordBounces(ctx context.Context, db sqlx.ExecerContext, ids []int64, replies []string) error {
	short := make([]string, len(replies))
	for i, r := range replies {
		short[i] = truncate(r, 1000)
	}
	if _, err := db.ExecContext(ctx, qRecordBounces, pq.Int64Array(ids), pq.StringArray(short)); err != nil {
		return fmt.Errorf("record bounces: %w", err)
	}
	return nil
}

func isDeadlock(err error) bool {
	var pe *pq.Error
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

// truncate shortens s to at most n bytes without splitting a character
// (Postgres refuses text that is not valid UTF-8).
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
