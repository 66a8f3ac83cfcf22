// Package runs owns campaign versions, runs and the expansion of a run into
// one delivery row per recipient. A run is unique per (campaign, occurrence)
// in Postgres, so any number of schedulers may try to start the same
// occurrence and only one run exists; a run always renders the campaign
// version it started with.
package runs

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/store"
)

// Kinds of run (runs.kind).
const (
	KindSend     = "send"     // the campaign itself: a newsletter, an event's invitation
	KindReminder = "reminder" // an event reminder, to its guests
	// KindUpdate tells the guests, the undecided and the waiting list that
	// the event's time, place, title or URL changed (iTIP REQUEST with a
	// higher SEQUENCE, RFC 5546 §2.1.4); one run per SEQUENCE.
	KindUpdate = "update"
	// KindCancellation tells them that the event is cancelled (iTIP CANCEL).
	KindCancellation = "cancellation"
	// KindNotice holds the one-person mails RSVPs cause (confirmations,
	// waiting-list and promotion notices): one run per campaign version,
	// written by RecordRSVP, never expanded.
	KindNotice = "notice"
)

// RunKinds lists every kind of run (a test compares them with the schema).
var RunKinds = []string{KindSend, KindReminder, KindUpdate, KindCancellation, KindNotice}

// IsTransactional reports whether runs of kind are mail a person is owed
// because of an event rather than a campaign's bulk send: reminders,
// updates, cancellations and notices are sent outside the campaign's send
// window and ahead of bulk runs (their own queue).
func IsTransactional(kind string) bool { return kind != KindSend }

// States of a run (SPEC.md, campaign status --json).
const (
	StateExpanding = "expanding"
	StateSending   = "sending"
	StateWaiting   = "waiting"
	StatePaused    = "paused"
	StateDone      = "done"
	StateCancelled = "cancelled"
)

// RunStates lists every run state (runs.state; a test compares them with
// the schema's CHECK constraint).
var RunStates = []string{StateExpanding, StateSending, StateWaiting, StatePaused, StateDone, StateCancelled}

// HoldReasons lists every reason a run is held (run_holds.reason).
var HoldReasons = []string{HoldRelay, HoldQuota, HoldWindow}

// ErrState is returned when a run is not in a state the operation applies to
// (resuming a run that is not paused, pausing a finished one).
var ErrState = errors.New("run is not in a state that allows this")

// Run is one send of a campaign: an occurrence of its schedule, a manual
// start or an event reminder.
type Run struct {
	ID          int64      `db:"id" json:"id"`
	CampaignID  string     `db:"campaign_id" json:"campaign_id"`
	VersionID   int64      `db:"version_id" json:"version_id"`
	Number      int        `db:"number" json:"number"`
	Kind        string     `db:"kind" json:"kind"`
	Occurrence  string     `db:"occurrence" json:"occurrence"`
	State       string     `db:"state" json:"state"`
	PauseReason string     `db:"pause_reason" json:"pause_reason"`
	StartedAt   time.Time  `db:"started_at" json:"started_at"`
	ExpandedAt  *time.Time `db:"expanded_at" json:"expanded_at"`
	FinishedAt  *time.Time `db:"finished_at" json:"finished_at"`
}

// Active reports whether the run's deliveries may be sent now.
func (r Run) Active() bool {
	return IsActive(r.State)
}

// IsActive reports whether a run in state may send (expanding, sending or
// waiting; the SQL twin is activeStates in queries.go, and a test keeps the
// two equal).
func IsActive(state string) bool {
	return state == StateExpanding || state == StateSending || state == StateWaiting
}

// RegisterVersion upserts the campaigns row and stores the campaign
// definition as a campaign_versions row keyed by its digest (reused when the
// campaign is unchanged; see versionKey), and makes it the campaign's
// current version. It returns the version id.
//
// For events it also keeps the iCalendar SEQUENCE: a version whose event
// details (title, times, place, URL, cancellation) differ from the current
// version's gets the current sequence plus one, so calendars apply the
// update. A new version with room for more guests (a raised capacity)
// promotes the first people on the waiting list and queues their
// promotion notices, which the reconciler enqueues.
func RegisterVersion(ctx context.Context, db *sqlx.DB, c *campaigns.Campaign) (int64, error) {
	if c == nil || c.ID == "" {
		return 0, errors.New("register campaign version: no campaign")
	}
	def, err := json.Marshal(c)
	if err != nil {
		return 0, fmt.Errorf("register campaign %s: encode: %w", c.ID, err)
	}
	digest := c.Digest
	if digest == "" {
		sum := sha256.Sum256(def)
		digest = hex.EncodeToString(sum[:])
	}
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("register campaign %s: %w", c.ID, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, qUpsertCampaign,
		c.ID, c.Kind, c.File); err != nil {
		return 0, fmt.Errorf("register campaign %s: %w", c.ID, err)
	}
	// The row lock serialises registrations of one campaign.
	var cur struct {
		ID     sql.NullInt64  `db:"id"`
		Digest sql.NullString `db:"digest"`
		Seq    sql.NullInt64  `db:"event_sequence"`
		Def    []byte         `db:"definition"`
	}
	if err := tx.GetContext(ctx, &cur, qCurrentVersionForUpdate, c.ID); err != nil {
		return 0, fmt.Errorf("register campaign %s: current version: %w", c.ID, err)
	}
	if cur.Digest.Valid && (cur.Digest.String == digest || cur.Digest.String == versionKey(digest, cur.Seq.Int64)) {
		return cur.ID.Int64, tx.Commit()
	}
	seq := int64(0)
	if c.Event != nil && cur.ID.Valid {
		var prev campaigns.Campaign
		if err := json.Unmarshal(cur.Def, &prev); err != nil {
			return 0, fmt.Errorf("register campaign %s: decode current version: %w", c.ID, err)
		}
		seq = cur.Seq.Int64
		if eventChanged(prev.Event, c.Event) {
			seq++
		}
	}
	var id int64
	if err := tx.GetContext(ctx, &id, qInsertVersion, c.ID, versionKey(digest, seq), def, seq); err != nil {
		return 0, fmt.Errorf("register campaign %s version: %w", c.ID, err)
	}
	if _, err := tx.ExecContext(ctx, qSetCurrentVersion, c.ID, id); err != nil {
		return 0, fmt.Errorf("register campaign %s version: %w", c.ID, err)
	}
	if e := c.Event; e != nil && !e.Cancelled {
		// A raised capacity frees places: the waiting list moves up now,
		// under the same lock as every answer.
		promoted, err := promote(ctx, tx, c.ID, e.Capacity)
		if err != nil {
			return 0, err
		}
		var b noticeBatch
		for _, who := range promoted {
			b.add(who, NoticePromoted)
		}
		if err := b.insert(ctx, tx, c.ID, id, false); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("register campaign %s version: %w", c.ID, err)
	}
	return id, nil
}

// versionKey is a version's key among its campaign's versions: the
// content's digest, and for an event whose SEQUENCE is above 0 the
// sequence too. A file edited back to an earlier content (a place changed
// and changed back, a cancellation withdrawn) is a change for calendars:
// it gets a row of its own with the next SEQUENCE, and no stored version
// ever changes, so a run keeps rendering exactly what it started with.
func versionKey(digest string, seq int64) string {
	if seq == 0 {
		return digest
	}
	return digest + "#" + strconv.FormatInt(seq, 10)
}

// eventChanged reports whether an attendee's calendar entry would change
// between two versions of an event (a cancellation is a change too: RFC
// 5546 §2.1.4 asks for a higher SEQUENCE).
func eventChanged(prev, next *campaigns.Event) bool {
	if prev == nil || next == nil {
		return prev != next
	}
	return prev.Title != next.Title || !prev.StartsAt.Equal(next.StartsAt) || !prev.EndsAt.Equal(next.EndsAt) ||
		prev.Location != next.Location || prev.URL != next.URL || prev.Cancelled != next.Cancelled
}

// CurrentVersion returns the id of the version a campaign's file held when
// it was last registered, or store.ErrNotFound for an unknown campaign.
func CurrentVersion(ctx context.Context, db sqlx.QueryerContext, campaignID string) (int64, error) {
	var id sql.NullInt64
	err := sqlx.GetContext(ctx, db, &id, qCurrentVersionID, campaignID)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !id.Valid) {
		return 0, fmt.Errorf("campaign %s: %w", campaignID, store.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("campaign %s: %w", campaignID, err)
	}
	return id.Int64, nil
}

// LoadVersion returns the campaign exactly as it was at that version, with
// the event's current iCalendar sequence.
func LoadVersion(ctx context.Context, db sqlx.QueryerContext, versionID int64) (*campaigns.Campaign, error) {
	var row struct {
		Def []byte `db:"definition"`
		Seq int    `db:"event_sequence"`
	}
	err := sqlx.GetContext(ctx, db, &row, qLoadVersion, versionID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("campaign version %d: %w", versionID, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("campaign version %d: %w", versionID, err)
	}
	var c campaigns.Campaign
	if err := json.Unmarshal(row.Def, &c); err != nil {
		return nil, fmt.Errorf("campaign version %d: decode: %w", versionID, err)
	}
	if c.Event != nil {
		c.Event.Sequence = row.Seq
	}
	return &c, nil
}

// Create makes the run of (campaign, occurrence); kind is KindSend,
// KindReminder, KindUpdate or KindCancellation (notice runs are made by
// RecordRSVP). The pair is unique in Postgres, so two schedulers never
// create it twice: created is false when it already existed, and the
// existing run is returned. Runs are numbered per campaign from 1.
func Create(ctx context.Context, db *sqlx.DB, versionID int64, occurrence, kind string) (Run, bool, error) {
	if kind != KindSend && kind != KindReminder && kind != KindUpdate && kind != KindCancellation {
		return Run{}, false, fmt.Errorf("create run: unknown kind %q", kind)
	}
	if strings.TrimSpace(occurrence) == "" {
		return Run{}, false, errors.New("create run: empty occurrence")
	}
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return Run{}, false, fmt.Errorf("create run: %w", err)
	}
	defer tx.Rollback()
	var campaignID string
	if err := tx.GetContext(ctx, &campaignID, qVersionCampaign, versionID); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Run{}, false, fmt.Errorf("create run: campaign version %d: %w", versionID, store.ErrNotFound)
		}
		return Run{}, false, fmt.Errorf("create run: %w", err)
	}
	// Serialise run creation per campaign so that numbers are dense and the
	// occurrence check below cannot race another scheduler.
	if _, err := tx.ExecContext(ctx, qLockRunCreation, campaignID); err != nil {
		return Run{}, false, fmt.Errorf("create run of %s: lock: %w", campaignID, err)
	}
	var existing Run
	err = tx.GetContext(ctx, &existing, qRunByOccurrence, campaignID, occurrence)
	if err == nil {
		return existing, false, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return Run{}, false, fmt.Errorf("create run of %s: %w", campaignID, err)
	}
	var r Run
	if err := tx.GetContext(ctx, &r, qInsertRun, campaignID, versionID, kind, occurrence); err != nil {
		return Run{}, false, fmt.Errorf("create run of %s: %w", campaignID, err)
	}
	if err := tx.Commit(); err != nil {
		return Run{}, false, fmt.Errorf("create run of %s: %w", campaignID, err)
	}
	return r, true, nil
}

// Get returns one run.
func Get(ctx context.Context, db sqlx.QueryerContext, runID int64) (Run, error) {
	var r Run
	err := sqlx.GetContext(ctx, db, &r, qRunByID, runID)
	if errors.Is(err, sql.ErrNoRows) {
		return Run{}, fmt.Errorf("run %d: %w", runID, store.ErrNotFound)
	}
	if err != nil {
		return Run{}, fmt.Errorf("run %d: %w", runID, err)
	}
	return r, nil
}

// ListRuns returns a campaign's runs, oldest first.
func ListRuns(ctx context.Context, db *sqlx.DB, campaignID string) ([]Run, error) {
	var out []Run
	if err := db.SelectContext(ctx, &out, qRunsOfCampaign, campaignID); err != nil {
		return nil, fmt.Errorf("runs of %s: %w", campaignID, err)
	}
	return out, nil
}

// Pause stops a run from sending: deliveries already handed to the relay
// are recorded, the rest wait until Resume. reason is shown to HR (a relay
// rejecting the sender pauses the run with the relay's reply).
func Pause(ctx context.Context, db *sqlx.DB, runID int64, reason string) error {
	res, err := db.ExecContext(ctx, qPause, runID, reason)
	if err != nil {
		return fmt.Errorf("pause run %d: %w", runID, err)
	}
	return affected(res, runID, "pause")
}

// Resume lets a paused run send again. Its waiting deliveries are handed
// to the reconciler at once, not when their queue slack runs out, and the
// deliveries a circuit-breaker pause (PauseForSender) marked for it go back
// to pending.
func Resume(ctx context.Context, db *sqlx.DB, runID int64) error {
	return store.InTx(ctx, db, func(tx *sqlx.Tx) error {
		return changeState(ctx, tx, runID, "resume", qResume, nil, qUnqueueRun, qRequeueFailed, qForgetRequeueReplies)
	})
}

// Cancel ends a run: deliveries not yet handed to the relay are cancelled;
// those in flight are still recorded as what the relay answered.
func Cancel(ctx context.Context, db *sqlx.DB, runID int64) error {
	return store.InTx(ctx, db, func(tx *sqlx.Tx) error {
		return changeState(ctx, tx, runID, "cancel", qCancel, nil, qCancelPending)
	})
}

// changeState moves run runID to another state with change (its $1 is the
// run id, then extra), ErrState when the run is not in a state change
// applies to, and then runs each of then, which take the run id as $1.
func changeState(ctx context.Context, tx sqlx.ExecerContext, runID int64, verb, change string, extra []any, then ...string) error {
	res, err := tx.ExecContext(ctx, change, append([]any{runID}, extra...)...)
	if err != nil {
		return fmt.Errorf("%s run %d: %w", verb, runID, err)
	}
	if err := affected(res, runID, verb); err != nil {
		return err
	}
	for _, q := range then {
		if _, err := tx.ExecContext(ctx, q, runID); err != nil {
			return fmt.Errorf("%s run %d: %w", verb, runID, err)
		}
	}
	return nil
}

// FinishIfDone marks an active run done when none of its deliveries is
// pending or being sent any more, and its expansion is complete. It
// reports whether it did.
//
// The check reads the deliveries as they were when the statement began;
// if Retry held the run row meanwhile (it locks it before putting failed
// deliveries back to pending), the run would be closed over deliveries
// nobody sends. A second statement, which sees Retry's commit, reopens
// such a run. db must not be a transaction above READ COMMITTED.
func FinishIfDone(ctx context.Context, db sqlx.ExecerContext, runID int64) (bool, error) {
	res, err := db.ExecContext(ctx, qFinishIfDone, runID)
	if err != nil {
		return false, fmt.Errorf("finish run %d: %w", runID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	res, err = db.ExecContext(ctx, qReopenIfNotDone, runID)
	if err != nil {
		return false, fmt.Errorf("finish run %d: recheck: %w", runID, err)
	}
	n, _ := res.RowsAffected()
	return n == 0, nil
}

// affected turns "no row changed" into ErrState or store.ErrNotFound.
func affected(res sql.Result, runID int64, verb string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s run %d: %w", verb, runID, err)
	}
	if n == 0 {
		return fmt.Errorf("%s run %d: %w", verb, runID, ErrState)
	}
	return nil
}

// OccurrenceExists reports whether campaignID already has a run for
// occurrence.
func OccurrenceExists(ctx context.Context, db sqlx.QueryerContext, campaignID, occurrence string) (bool, error) {
	var ok bool
	if err := sqlx.GetContext(ctx, db, &ok, qOccurrenceExists, campaignID, occurrence); err != nil {
		return false, fmt.Errorf("look up run of %s %s: %w", campaignID, occurrence, err)
	}
	return ok, nil
}

// HasRuns reports whether campaignID has any run.
func HasRuns(ctx context.Context, db sqlx.QueryerContext, campaignID string) (bool, error) {
	var ok bool
	if err := sqlx.GetContext(ctx, db, &ok, qCampaignHasRuns, campaignID); err != nil {
		return false, fmt.Errorf("look up runs of %s: %w", campaignID, err)
	}
	return ok, nil
}
