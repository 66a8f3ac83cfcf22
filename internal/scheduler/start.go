package scheduler

import (
	"context"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/runs"
)

// ErrExpansionIncomplete marks a Starter error that came after the run was
// created: the occurrence is started (its run exists), and the workers'
// reconciler finishes the interrupted expansion, so the scheduler must not
// try it again or report it missed.
var ErrExpansionIncomplete = errors.New("run created, expansion incomplete")

// RunStarter starts occurrences with runs.Start: it records the campaign
// version, creates the run of (campaign, occurrence) — unique in Postgres,
// so only one scheduler creates it — and expands it. enqueue hands each
// chunk of new deliveries to send tasks as it is written; with nil the
// reconciler queues them. A run created whose expansion stopped part-way
// is an error wrapping ErrExpansionIncomplete.
func RunStarter(db *sqlx.DB, enqueue runs.Enqueue) Starter {
	return func(ctx context.Context, c *campaigns.Campaign, occ Occurrence) (int, bool, error) {
		st, err := runs.Start(ctx, db, c, occ.Key, occ.Kind, enqueue)
		var ee *runs.ExpansionError
		if errors.As(err, &ee) {
			// The run exists; the reconciler finishes an interrupted
			// expansion, so the occurrence counts as started.
			return st.Run.Number, st.Created, fmt.Errorf("run %d of %s: %w (the reconciler resumes it): %w", st.Run.Number, c.ID, ErrExpansionIncomplete, ee.Err)
		}
		if err != nil {
			return 0, false, err
		}
		return st.Run.Number, st.Created, nil
	}
}

// RegisterWith returns an Options.Register that records each loaded
// campaign version, so that `campaign list` shows scheduled campaigns
// before their first run.
func RegisterWith(db *sqlx.DB) func(ctx context.Context, c *campaigns.Campaign) error {
	return func(ctx context.Context, c *campaigns.Campaign) error {
		_, err := runs.RegisterVersion(ctx, db, c)
		return err
	}
}

// LoadFolder is the Loader of a campaigns folder: campaigns.Load, with each
// problem formatted as file:line:col: message.
func LoadFolder(dir string) ([]*campaigns.Campaign, []string) {
	list, problems := campaigns.Load(dir)
	out := make([]string, len(problems))
	for i, p := range problems {
		out[i] = p.String()
	}
	return list, out
}

// AnnounceWith returns an Options.Announce that starts the update or
// cancellation run of an event campaign whose invitation went out
// (runs.AnnounceEventChange); enqueue hands its deliveries to send tasks
// (nil: the reconciler does). A run created whose expansion stopped
// part-way counts as announced: the reconciler finishes it.
func AnnounceWith(db *sqlx.DB, enqueue runs.Enqueue, log func(msg string, args ...any)) func(ctx context.Context, c *campaigns.Campaign) error {
	return func(ctx context.Context, c *campaigns.Campaign) error {
		st, err := runs.AnnounceEventChange(ctx, db, c, enqueue)
		var ee *runs.ExpansionError
		if err != nil && !errors.As(err, &ee) {
			return err
		}
		if st != nil && st.Created && log != nil {
			log("event change announced", "campaign_id", c.ID, "run", st.Run.Number, "kind", st.Run.Kind, "deliveries", st.Deliveries)
		}
		return nil
	}
}
