package runs

// RSVPs: the answers to an event invitation, the guest list and its
// waiting list, and the one-person mails an answer sends (confirmations,
// waiting-list and promotion notices). Every change happens under the
// campaign row's lock, so the capacity holds with any number of web
// servers, inbound intakes and schedulers at once.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/store"
	"github.com/kizuna-alumni/kizuna/internal/tasks"
)

// Answers to an invitation (rsvps.answer).
const (
	AnswerYes   = "yes"
	AnswerNo    = "no"
	AnswerMaybe = "maybe"
)

// Notices: what a delivery of a notice run says (deliveries.notice). The
// same strings name the messages in package render (render.Options.Notice).
const (
	NoticeConfirmYes   = "confirm_yes"   // the answer yes is recorded: a place is yours
	NoticeConfirmNo    = "confirm_no"    // the answer no is recorded
	NoticeConfirmMaybe = "confirm_maybe" // the answer maybe is recorded
	NoticeWaitlisted   = "waitlisted"    // yes, but the event is full: on the waiting list
	NoticePromoted     = "promoted"      // a place freed: from the waiting list to the guest list
)

// Notices lists every notice (a test compares them with the schema).
var Notices = []string{NoticeConfirmYes, NoticeConfirmNo, NoticeConfirmMaybe, NoticeWaitlisted, NoticePromoted}

// Errors of RecordRSVP. Nothing is written when one is returned.
var (
	// ErrRSVPClosed: the answer came after the deadline (rsvp_deadline,
	// else the event's start).
	ErrRSVPClosed = errors.New("the RSVP deadline has passed")
	// ErrEventCancelled: the event block says cancelled: true.
	ErrEventCancelled = errors.New("the event is cancelled")
	// ErrBadAnswer: the answer is not yes, no or maybe.
	ErrBadAnswer = errors.New("an answer must be yes, no or maybe")
)

// RSVPView is what the RSVP page shows for one delivery's recipient.
type RSVPView struct {
	DeliveryID, AlumniID int64
	// Campaign is the campaign's current version (the event as it is now,
	// the company, the locales), not the version the delivery was sent with.
	Campaign  *campaigns.Campaign
	VersionID int64

	FamilyName, GivenName, Email, Locale, TimeZone string

	Answer     string // "" when not answered yet
	Waitlisted bool
	Position   int // 1-based place on the waiting list; 0 when not waitlisted
	AnsweredAt *time.Time
	// Deadline is rsvp_deadline, else the event's start: answers given at
	// or after it change nothing.
	Deadline time.Time
}

// Closed reports whether answers can no longer change at now: the
// deadline has passed or the event is cancelled.
func (v RSVPView) Closed(now time.Time) bool {
	return v.Campaign.Event.Cancelled || !now.Before(v.Deadline)
}

// deadline is when answers stop: rsvp_deadline, else the event's start.
func deadline(e *campaigns.Event) time.Time {
	if e.RSVPDeadline != nil {
		return *e.RSVPDeadline
	}
	return e.StartsAt
}

// rsvpTarget is a delivery as an RSVP sees it: whose it is, of which
// campaign, and that person's current answer.
type rsvpTarget struct {
	CampaignID   string         `db:"campaign_id"`
	CampaignKind string         `db:"campaign_kind"`
	VersionID    sql.NullInt64  `db:"current_version_id"`
	AlumniID     int64          `db:"alumni_id"`
	Email        sql.NullString `db:"email"`
	FamilyName   string         `db:"family_name"`
	GivenName    string         `db:"given_name"`
	Locale       string         `db:"locale"`
	TimeZone     string         `db:"timezone"`
	Answer       sql.NullString `db:"answer"`
	Waitlisted   sql.NullBool   `db:"waitlisted"`
	AnsweredAt   sql.NullTime   `db:"answered_at"`
}

// loadTarget reads deliveryID's recipient and campaign; store.ErrNotFound
// when the delivery is unknown, its person forgotten or its campaign not
// an event.
func loadTarget(ctx context.Context, db sqlx.QueryerContext, deliveryID int64) (rsvpTarget, error) {
	var t rsvpTarget
	err := sqlx.GetContext(ctx, db, &t, qRSVPTarget, deliveryID)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && (!t.Email.Valid || t.CampaignKind != "event" || !t.VersionID.Valid)) {
		return rsvpTarget{}, fmt.Errorf("rsvp for delivery %d: %w", deliveryID, store.ErrNotFound)
	}
	if err != nil {
		return rsvpTarget{}, fmt.Errorf("rsvp for delivery %d: %w", deliveryID, err)
	}
	return t, nil
}

// LoadRSVP returns the RSVP page's view for deliveryID: the event as the
// campaign's current version has it and the recipient's answer.
// store.ErrNotFound when the delivery is unknown, its person was
// forgotten, or its campaign is not an event.
func LoadRSVP(ctx context.Context, db sqlx.QueryerContext, deliveryID int64) (RSVPView, error) {
	t, err := loadTarget(ctx, db, deliveryID)
	if err != nil {
		return RSVPView{}, err
	}
	c, err := LoadVersion(ctx, db, t.VersionID.Int64)
	if err != nil {
		return RSVPView{}, err
	}
	if c.Event == nil {
		return RSVPView{}, fmt.Errorf("rsvp for delivery %d: %w", deliveryID, store.ErrNotFound)
	}
	v := RSVPView{
		DeliveryID: deliveryID, AlumniID: t.AlumniID, Campaign: c, VersionID: t.VersionID.Int64,
		FamilyName: t.FamilyName, GivenName: t.GivenName, Email: t.Email.String, Locale: t.Locale, TimeZone: t.TimeZone,
		Answer: t.Answer.String, Waitlisted: t.Waitlisted.Bool, Deadline: deadline(c.Event),
	}
	if t.AnsweredAt.Valid {
		at := t.AnsweredAt.Time
		v.AnsweredAt = &at
	}
	if v.Waitlisted {
		if v.Position, err = waitlistPosition(ctx, db, t.CampaignID, t.AlumniID); err != nil {
			return RSVPView{}, err
		}
	}
	return v, nil
}

func waitlistPosition(ctx context.Context, db sqlx.QueryerContext, campaignID string, alumniID int64) (int, error) {
	var n int
	if err := sqlx.GetContext(ctx, db, &n, qWaitlistPosition, campaignID, alumniID); err != nil {
		return 0, fmt.Errorf("waiting-list position in %s: %w", campaignID, err)
	}
	return n, nil
}

// Answer is one RSVP to record.
type Answer struct {
	// DeliveryID is the delivery whose signed link (or calendar reply)
	// carried the answer: it names the person and the campaign.
	DeliveryID int64
	Answer     string    // AnswerYes, AnswerNo or AnswerMaybe
	At         time.Time // when it was given: checked against the deadline
	Via        string    // "web" or "calendar", for the log
}

// RSVPResult is what RecordRSVP did.
type RSVPResult struct {
	Answer     string
	Waitlisted bool
	Position   int  // on the waiting list, 1-based; 0 when not waitlisted
	Changed    bool // false: the same answer again; nothing written, no mail
	Promoted   int  // people this answer moved from the waiting list to the guest list
}

// RecordRSVP records an answer. Under the campaign row's lock it checks the
// deadline and cancellation against the campaign's current version, puts a
// yes beyond the event's capacity on the waiting list (in the order of the
// answers), promotes the first on the list whenever a place frees, and, in
// the same transaction, queues the answerer's confirmation (or
// waiting-list notice) and a promotion notice per promoted person in the
// campaign's notice run; pending reminders of a person who is no longer a
// guest are cancelled, and so are their earlier notices that were not sent
// yet. The new notices are handed to enqueue after the commit (nil: the
// reconciler enqueues them within seconds). The same answer given again
// changes nothing. Errors: ErrBadAnswer, ErrRSVPClosed, ErrEventCancelled,
// store.ErrNotFound (unknown delivery, forgotten person, not an event).
func RecordRSVP(ctx context.Context, db *sqlx.DB, a Answer, enqueue Enqueue) (RSVPResult, error) {
	if a.Answer != AnswerYes && a.Answer != AnswerNo && a.Answer != AnswerMaybe {
		return RSVPResult{}, ErrBadAnswer
	}
	t, err := loadTarget(ctx, db, a.DeliveryID)
	if err != nil {
		return RSVPResult{}, err
	}
	var res RSVPResult
	var queued noticeBatch
	err = store.InTx(ctx, db, func(tx *sqlx.Tx) error {
		var vid int64
		if err := tx.GetContext(ctx, &vid, qLockEventCampaign, t.CampaignID); err != nil {
			return fmt.Errorf("lock campaign %s: %w", t.CampaignID, err)
		}
		c, err := LoadVersion(ctx, tx, vid)
		if err != nil {
			return err
		}
		e := c.Event
		if e == nil {
			return fmt.Errorf("campaign %s: %w", t.CampaignID, store.ErrNotFound)
		}
		if e.Cancelled {
			return ErrEventCancelled
		}
		if !a.At.Before(deadline(e)) {
			return ErrRSVPClosed
		}
		var cur struct {
			Answer     string `db:"answer"`
			Waitlisted bool   `db:"waitlisted"`
		}
		err = tx.GetContext(ctx, &cur, qCurrentRSVP, t.CampaignID, t.AlumniID)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("current answer: %w", err)
		}
		if cur.Answer == a.Answer {
			res = RSVPResult{Answer: cur.Answer, Waitlisted: cur.Waitlisted}
			if cur.Waitlisted {
				res.Position, err = waitlistPosition(ctx, tx, t.CampaignID, t.AlumniID)
			}
			return err
		}
		res = RSVPResult{Answer: a.Answer, Changed: true}
		if a.Answer == AnswerYes && e.Capacity > 0 {
			var guests int
			if err := tx.GetContext(ctx, &guests, qGuestCount, t.CampaignID); err != nil {
				return fmt.Errorf("count guests: %w", err)
			}
			res.Waitlisted = guests >= e.Capacity
		}
		if _, err := tx.ExecContext(ctx, qUpsertRSVP, t.CampaignID, t.AlumniID, a.DeliveryID, a.Answer, res.Waitlisted, a.At); err != nil {
			return fmt.Errorf("record answer: %w", err)
		}
		// Mails about an answer that no longer holds are not sent.
		guest := a.Answer == AnswerYes && !res.Waitlisted
		if _, err := tx.ExecContext(ctx, qCancelSupersededNotices, t.CampaignID, t.AlumniID, !guest); err != nil {
			return fmt.Errorf("cancel earlier notices: %w", err)
		}
		notice := map[string]string{AnswerYes: NoticeConfirmYes, AnswerNo: NoticeConfirmNo, AnswerMaybe: NoticeConfirmMaybe}[a.Answer]
		if res.Waitlisted {
			notice = NoticeWaitlisted
		}
		queued.add(t.AlumniID, notice)
		promoted, err := promote(ctx, tx, t.CampaignID, e.Capacity)
		if err != nil {
			return err
		}
		res.Promoted = len(promoted)
		for _, id := range promoted {
			queued.add(id, NoticePromoted)
		}
		if res.Waitlisted {
			if res.Position, err = waitlistPosition(ctx, tx, t.CampaignID, t.AlumniID); err != nil {
				return err
			}
		}
		return queued.insert(ctx, tx, t.CampaignID, vid, enqueue != nil)
	})
	if err != nil {
		return RSVPResult{}, err
	}
	queued.enqueue(ctx, db, enqueue)
	return res, nil
}

// promote moves the first people on the waiting list to the guest list
// while the event has room (capacity 0: unlimited), and returns who moved.
// The caller holds the campaign row's lock.
func promote(ctx context.Context, tx *sqlx.Tx, campaignID string, capacity int) ([]int64, error) {
	var moved []int64
	if err := tx.SelectContext(ctx, &moved, qPromote, campaignID, capacity); err != nil {
		return nil, fmt.Errorf("promote from the waiting list of %s: %w", campaignID, err)
	}
	return moved, nil
}

// noticeBatch collects the notices of one transaction.
type noticeBatch struct {
	alumni     []int64
	notices    []string
	campaignID string
	runID      int64
	chunks     chunked
}

func (b *noticeBatch) add(alumniID int64, notice string) {
	b.alumni = append(b.alumni, alumniID)
	b.notices = append(b.notices, notice)
}

// insert writes the batch's deliveries in the notice run of the
// campaign's version vid, creating the run or reopening it. queued says
// that a task will carry them (enqueue after the commit).
func (b *noticeBatch) insert(ctx context.Context, tx *sqlx.Tx, campaignID string, vid int64, queued bool) error {
	if len(b.alumni) == 0 {
		return nil
	}
	runID, err := noticeRun(ctx, tx, campaignID, vid)
	if err != nil {
		return err
	}
	slack := 0.0
	if queued {
		slack = QueueSlack.Seconds()
	}
	var c chunked
	if err := tx.QueryRowxContext(ctx, qInsertNotices, runID, pq.Int64Array(b.alumni), pq.StringArray(b.notices), slack, tasks.ChunkSize).
		Scan((*pq.Int64Array)(&c.IDs), (*pq.Int64Array)(&c.Chunks)); err != nil {
		return fmt.Errorf("queue notices of %s: %w", campaignID, err)
	}
	b.campaignID, b.runID, b.chunks = campaignID, runID, c
	return nil
}

// enqueue hands the inserted notices to send tasks; on failure they are
// given back to the reconciler, which enqueues them within seconds.
func (b *noticeBatch) enqueue(ctx context.Context, db sqlx.ExecerContext, enqueue Enqueue) {
	if enqueue == nil || len(b.chunks.IDs) == 0 {
		return
	}
	_ = enqueueChunks(ctx, db, enqueue, Run{ID: b.runID, CampaignID: b.campaignID, Kind: KindNotice}, b.chunks)
}

// noticeRun returns the notice run of (campaign, version vid), creating it
// or reopening it when it was done or cancelled (a paused one stays
// paused: HR paused it). The caller holds the campaign row's lock.
func noticeRun(ctx context.Context, tx *sqlx.Tx, campaignID string, vid int64) (int64, error) {
	occurrence := "notices:v" + strconv.FormatInt(vid, 10)
	var r Run
	err := tx.GetContext(ctx, &r, qRunByOccurrence, campaignID, occurrence)
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := tx.ExecContext(ctx, qLockRunCreation, campaignID); err != nil {
			return 0, fmt.Errorf("create notice run of %s: lock: %w", campaignID, err)
		}
		err = tx.GetContext(ctx, &r, qInsertRun, campaignID, vid, KindNotice, occurrence)
	}
	if err != nil {
		return 0, fmt.Errorf("notice run of %s: %w", campaignID, err)
	}
	if _, err := tx.ExecContext(ctx, qOpenNoticeRun, r.ID); err != nil {
		return 0, fmt.Errorf("open notice run of %s: %w", campaignID, err)
	}
	return r.ID, nil
}
