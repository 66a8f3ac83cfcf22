package runs

import (
	"context"

	"github.com/jmoiron/sqlx"

	"github.com/kizuna-alumni/kizuna/campaigns"
)

// Started is what Start did: the run of the occurrence, whether this call
// created it (false: it already existed), and the run's delivery count
// when this call expanded it (0 when it did not).
type Started struct {
	Run        Run
	Created    bool
	Deliveries int64
}

// ExpansionError is Start's error when the run exists but its expansion
// stopped part-way: the occurrence is started, and the workers' reconciler
// finishes the expansion. Err is the expansion's own error.
type ExpansionError struct{ Err error }

func (e *ExpansionError) Error() string { return "run created, expansion incomplete: " + e.Err.Error() }

// Unwrap returns the expansion's error.
func (e *ExpansionError) Unwrap() error { return e.Err }

// Start starts the occurrence of campaign c, for `campaign start` and the
// scheduler alike: it records c's version (RegisterVersion), creates the
// run of (campaign, occurrence) with kind KindSend or KindReminder (Create:
// unique in Postgres, so only one caller creates it) and expands it,
// handing each chunk of new deliveries to enqueue (nil leaves them to the
// reconciler). A run that already existed is only helped to finish its
// expansion when nobody is expanding it right now (TryExpand); one past
// expanding is returned as it is. When the run exists but its expansion
// fails, the error is an *ExpansionError and Started.Run is the run.
func Start(ctx context.Context, db *sqlx.DB, c *campaigns.Campaign, occurrence, kind string, enqueue Enqueue) (Started, error) {
	vid, err := RegisterVersion(ctx, db, c)
	if err != nil {
		return Started{}, err
	}
	r, created, err := Create(ctx, db, vid, occurrence, kind)
	if err != nil {
		return Started{}, err
	}
	st := Started{Run: r, Created: created}
	if r.State != StateExpanding {
		return st, nil
	}
	if created {
		st.Deliveries, err = ExpandEach(ctx, db, r.ID, enqueue)
	} else {
		st.Deliveries, _, err = TryExpand(ctx, db, r.ID, enqueue)
	}
	if err != nil {
		return st, &ExpansionError{Err: err}
	}
	return st, nil
}
