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
	DeliveryPending    = "pending"    // waiting to be sent (or sent again)
	DeliverySending    = "sending"    // claimed by a worker under a lease
	DeliverySent       = "sent"       // the relay accepted it
	DeliveryFailed     = "failed"     // the relay refused it for good, or its attempts ran out
	DeliverySuppressed = "suppressed" // not sent: the person cannot be mailed
	DeliveryCancelled  = "cancelled"  // not sent: its run was cancelled
)

// DeliveryStates lists every delivery state.
var DeliveryStates = []string{DeliveryPending, DeliverySending, DeliverySent, DeliveryFailed, DeliverySuppressed, DeliveryCancelled}

// Claimed is one delivery a worker holds under a lease, with what sending
// it needs: its run and the alumnus it goes to.
type Claimed struct {
	ID         int64          `db:"id"`
	RunID      int64          `db:"run_id"`
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

// Claim leases the claimable deliveries among ids of run runID — pending,
// or sending under an expired lease (a worker died), of a run that may
// send, and due — for lease, raising their attempt count, in one
// statement. Two workers claiming the same ids never both get one.
// Deliveries that were not claimable are not returned. The claim is
// retried on a deadlock with another claimer.
func Claim(ctx context.Context, db sqlx.QueryerContext, runID int64, ids []int64, lease time.Duration) ([]Claimed, error) {
	return claim(func(out *[]Claimed) error {
		return sqlx.SelectContext(ctx, db, out, qClaim, pq.Int64Array(ids), lease.Seconds(), runID)
	})
}

// claim runs one claim statement through sel, retrying on a deadlock.
func claim(sel func(out *[]Claimed) error) ([]Claimed, error) {
	var out []Claimed
	var err error
	for try := 0; try < 3; try++ {
		out = out[:0]
		err = sel(&out)
		if !isDeadlock(err) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	return out, nil
}

// Unqueue hands pending deliveries that a task carried but did not send
// back to the reconciler (queued_until NULL), which enqueues them again
// once they are due: a task that could not claim them (a paused run, a
// retry not yet due) or a worker that is stopping.
func Unqueue(ctx context.Context, db sqlx.ExecerContext, ids []int64) error {
	if _, err := db.ExecContext(ctx, qUnqueue, pq.Int64Array(ids)); err != nil {
		return fmt.Errorf("unqueue deliveries: %w", err)
	}
	return nil
}

// ExtendLease keeps the deliveries ids that are still being sent leased
// for another lease from now.
func ExtendLease(ctx context.Context, db sqlx.ExecerContext, ids []int64, lease time.Duration) error {
	if _, err := db.ExecContext(ctx, qExtendLease, pq.Int64Array(ids), lease.Seconds()); err != nil {
		return fmt.Errorf("extend the lease of deliveries: %w", err)
	}
	return nil
}

// Result is what became of one claimed delivery.
type Result struct {
	ID        int64
	State     string // DeliverySent, DeliveryFailed, DeliverySuppressed or DeliveryPending
	MessageID string // of a sent message, without angle brackets
	Reply     string // the relay's reply, or why it was not sent; at most 1,000 bytes are kept
	NotBefore time.Time
	// Uncharged gives back the attempt the claim counted: the delivery
	// was released without being tried (a throttle, the send window, a
	// paused run, a relay that does not answer, a stopping worker).
	Uncharged bool
}

// Record writes results, sorted by id, in one statement. A sent result is
// written whatever state the delivery reached meanwhile (the relay took
// the message: that is the truth); the others only while the delivery is
// still claimed. A zero NotBefore leaves not_before as it is.
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
	for i, r := range results {
		ids[i], states[i], mids[i], replies[i] = r.ID, r.State, r.MessageID, truncate(r.Reply, 1000)
		if r.Uncharged {
			atts[i] = -1
		}
		if !r.NotBefore.IsZero() {
			nbs[i] = r.NotBefore.UTC().Format(time.RFC3339Nano)
		}
	}
	return []any{pq.Int64Array(ids), pq.StringArray(states), pq.StringArray(mids),
		pq.StringArray(replies), pq.StringArray(nbs), pq.Int64Array(atts)}
}

// SendStatements are Claim and Record as statements prepared once per
// process (a worker's): Postgres parses and plans them once instead of at
// every chunk and every group commit, which at thousands of messages a
// second is a large part of its work per message. They are prepared at
// first use; while Postgres cannot prepare them, the plain statements
// serve and preparing is tried again at the next use. Safe for concurrent
// use: database/sql prepares each on every pooled connection it runs on.
type SendStatements struct {
	db            *sqlx.DB
	mu            sync.Mutex
	claim, record *sqlx.Stmt
}

// NewSendStatements returns the send statements of db; nothing is
// prepared yet.
func NewSendStatements(db *sqlx.DB) *SendStatements { return &SendStatements{db: db} }

// prepared returns the prepared statements, or nils when they cannot be
// prepared now.
func (s *SendStatements) prepared(ctx context.Context) (claim, record *sqlx.Stmt) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.claim == nil {
		st, err := s.db.PreparexContext(ctx, qClaim)
		if err != nil {
			return nil, nil
		}
		s.claim = st
	}
	if s.record == nil {
		st, err := s.db.PreparexContext(ctx, qRecord)
		if err != nil {
			return nil, nil
		}
		s.record = st
	}
	return s.claim, s.record
}

// Close releases the prepared statements.
func (s *SendStatements) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, st := range []*sqlx.Stmt{s.claim, s.record} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	s.claim, s.record = nil, nil
	return errors.Join(errs...)
}

// Claim is runs.Claim with the prepared statement.
func (s *SendStatements) Claim(ctx context.Context, runID int64, ids []int64, lease time.Duration) ([]Claimed, error) {
	st, _ := s.prepared(ctx)
	if st == nil {
		return Claim(ctx, s.db, runID, ids, lease)
	}
	return claim(func(out *[]Claimed) error {
		return st.SelectContext(ctx, out, pq.Int64Array(ids), lease.Seconds(), runID)
	})
}

// Record is runs.Record with the prepared statement, inside tx when tx is
// not nil.
func (s *SendStatements) Record(ctx context.Context, tx *sqlx.Tx, results []Result) error {
	_, st := s.prepared(ctx)
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
