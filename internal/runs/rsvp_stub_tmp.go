package runs

// TEMP stub of the RSVP API (design: issue 11); replaced by rsvp.go.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/store"
)

const (
	AnswerYes   = "yes"
	AnswerNo    = "no"
	AnswerMaybe = "maybe"
)

const (
	NoticeConfirmYes   = "confirm_yes"
	NoticeConfirmNo    = "confirm_no"
	NoticeConfirmMaybe = "confirm_maybe"
	NoticeWaitlisted   = "waitlisted"
	NoticePromoted     = "promoted"
)

var (
	ErrRSVPClosed     = errors.New("rsvp closed")
	ErrEventCancelled = errors.New("event cancelled")
	ErrNotEvent       = fmt.Errorf("not an event: %w", store.ErrNotFound)
)

type RSVPView struct {
	DeliveryID, AlumniID                           int64
	Campaign                                       *campaigns.Campaign
	VersionID                                      int64
	FamilyName, GivenName, Email, Locale, TimeZone string
	Answer                                         string
	Waitlisted                                     bool
	Position                                       int
	AnsweredAt                                     *time.Time
	Deadline                                       time.Time
}

func (v RSVPView) Closed(now time.Time) bool { return !now.Before(v.Deadline) }

func LoadRSVP(ctx context.Context, db sqlx.QueryerContext, deliveryID int64) (RSVPView, error) {
	var row struct {
		Alumni     int64          `db:"alumni_id"`
		Campaign   string         `db:"campaign_id"`
		Family     string         `db:"family_name"`
		Given      string         `db:"given_name"`
		Email      sql.NullString `db:"email"`
		Locale     string         `db:"locale"`
		TZ         string         `db:"timezone"`
		Version    int64          `db:"version_id"`
		Answer     sql.NullString `db:"answer"`
		Waitlisted sql.NullBool   `db:"waitlisted"`
		At         sql.NullTime   `db:"answered_at"`
	}
	err := sqlx.GetContext(ctx, db, &row, `SELECT d.alumni_id, r.campaign_id, a.family_name, a.given_name, a.email,
		a.locale, a.timezone, c.current_version_id AS version_id, s.answer, s.waitlisted, s.answered_at
		FROM deliveries d JOIN runs r ON r.id = d.run_id JOIN campaigns c ON c.id = r.campaign_id
		JOIN alumni a ON a.id = d.alumni_id
		LEFT JOIN rsvps s ON s.campaign_id = r.campaign_id AND s.alumni_id = d.alumni_id
		WHERE d.id = $1 AND a.email IS NOT NULL AND c.kind = 'event'`, deliveryID)
	if errors.Is(err, sql.ErrNoRows) {
		return RSVPView{}, store.ErrNotFound
	}
	if err != nil {
		return RSVPView{}, err
	}
	c, err := LoadVersion(ctx, db, row.Version)
	if err != nil {
		return RSVPView{}, err
	}
	v := RSVPView{DeliveryID: deliveryID, AlumniID: row.Alumni, Campaign: c, VersionID: row.Version,
		FamilyName: row.Family, GivenName: row.Given, Email: row.Email.String, Locale: row.Locale,
		TimeZone: row.TZ, Answer: row.Answer.String, Waitlisted: row.Waitlisted.Bool}
	if row.At.Valid {
		v.AnsweredAt = &row.At.Time
	}
	if v.Waitlisted {
		v.Position = 1
	}
	v.Deadline = c.Event.StartsAt
	if c.Event.RSVPDeadline != nil {
		v.Deadline = *c.Event.RSVPDeadline
	}
	return v, nil
}

type Answer struct {
	DeliveryID int64
	Answer     string
	At         time.Time
	Via        string
}

type RSVPResult struct {
	Answer     string
	Waitlisted bool
	Position   int
	Changed    bool
	Promoted   int
}

func RecordRSVP(ctx context.Context, db *sqlx.DB, a Answer, enqueue Enqueue) (RSVPResult, error) {
	if a.Answer != AnswerYes && a.Answer != AnswerNo && a.Answer != AnswerMaybe {
		return RSVPResult{}, fmt.Errorf("bad answer %q", a.Answer)
	}
	v, err := LoadRSVP(ctx, db, a.DeliveryID)
	if err != nil {
		return RSVPResult{}, err
	}
	if v.Closed(a.At) {
		return RSVPResult{}, ErrRSVPClosed
	}
	var yes int
	if err := db.GetContext(ctx, &yes, `SELECT count(*) FROM rsvps WHERE campaign_id = $1 AND answer = 'yes' AND NOT waitlisted AND alumni_id <> $2`, v.Campaign.ID, v.AlumniID); err != nil {
		return RSVPResult{}, err
	}
	wl := a.Answer == AnswerYes && v.Campaign.Event.Capacity > 0 && yes >= v.Campaign.Event.Capacity
	_, err = db.ExecContext(ctx, `INSERT INTO rsvps (campaign_id, alumni_id, delivery_id, answer, waitlisted, answered_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (campaign_id, alumni_id) DO UPDATE SET answer = $4, waitlisted = $5, answered_at = $6`,
		v.Campaign.ID, v.AlumniID, a.DeliveryID, a.Answer, wl, a.At)
	if err != nil {
		return RSVPResult{}, err
	}
	r := RSVPResult{Answer: a.Answer, Waitlisted: wl, Changed: v.Answer != a.Answer}
	if wl {
		r.Position = 1
	}
	return r, nil
}
