package runs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/kizuna-alumni/kizuna/campaigns"
)

// AnnounceEventChange tells the people who said they might come that an
// event whose invitation already went out has changed: a cancellation run
// (occurrence "cancellation") when the event block says cancelled: true,
// else an update run (occurrence "update:<SEQUENCE>") when the current
// version's iCalendar SEQUENCE is higher than the invitation's and than
// the last update's. Both go to everyone who answered yes (guests and the
// waiting list) or maybe. A cancellation also cancels the campaign's
// invitation, reminder and update runs not finished; a newer update
// cancels an older one not finished, so that nobody gets stale news.
//
// Runs are unique per (campaign, occurrence), so any number of schedulers
// may call this for the same file: each change is announced once. c must
// be the campaign's current version (the scheduler registers it first).
// It returns the run it started, or nil when there was nothing to
// announce; an *ExpansionError when the run exists but its expansion
// stopped part-way (the reconciler finishes it).
func AnnounceEventChange(ctx context.Context, db *sqlx.DB, c *campaigns.Campaign, enqueue Enqueue) (*Started, error) {
	if c == nil || c.Event == nil {
		return nil, nil
	}
	var invited sql.NullInt64
	if err := db.GetContext(ctx, &invited, qInvitationSequence, c.ID); err != nil {
		return nil, fmt.Errorf("announce change of %s: %w", c.ID, err)
	}
	if !invited.Valid {
		return nil, nil // no invitation went out: nobody to tell
	}
	vid, err := CurrentVersion(ctx, db, c.ID)
	if err != nil {
		return nil, err
	}
	cur, err := LoadVersion(ctx, db, vid)
	if err != nil {
		return nil, err
	}
	seq := int64(cur.Event.Sequence)
	occurrence, kind := "update:"+strconv.FormatInt(seq, 10), KindUpdate
	var stop []string // kinds of active runs the announcement makes stale
	switch {
	case c.Event.Cancelled:
		occurrence, kind = "cancellation", KindCancellation
		stop = []string{KindSend, KindReminder, KindUpdate}
	case seq > invited.Int64:
		stop = []string{KindUpdate}
	default:
		return nil, nil
	}
	exists, err := OccurrenceExists(ctx, db, c.ID, occurrence)
	if err != nil || exists {
		return nil, err
	}
	st, err := Start(ctx, db, c, occurrence, kind, enqueue)
	if err != nil && st.Run.ID == 0 {
		return nil, err
	}
	var stale []int64
	if err := db.SelectContext(ctx, &stale, qOpenRunsOfKinds, c.ID, pq.StringArray(stop), st.Run.ID); err != nil {
		return &st, fmt.Errorf("announce change of %s: %w", c.ID, err)
	}
	for _, id := range stale {
		if err := Cancel(ctx, db, id); err != nil && !errors.Is(err, ErrState) {
			return &st, fmt.Errorf("announce change of %s: %w", c.ID, err)
		}
	}
	return &st, err
}
