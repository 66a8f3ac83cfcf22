package runs_test

import (
	"context"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
)

func eventCampaign(digest, location string, starts time.Time) *campaigns.Campaign {
	c := newsletter("party")
	c.Kind = campaigns.KindEvent
	c.Digest = digest
	c.Event = &campaigns.Event{Title: "年末交流会", StartsAt: starts, EndsAt: starts.Add(2 * time.Hour), Location: location}
	return c
}

// The iCalendar SEQUENCE grows when the event's details change, not when
// only the message around it does, and never goes back.
func TestEventSequenceGrowsWhenTheEventChanges(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	ctx := context.Background()
	start := time.Date(2026, 12, 18, 10, 0, 0, 0, time.UTC)
	steps := []struct {
		name string
		c    *campaigns.Campaign
		seq  int
	}{
		{"first version", eventCampaign("a", "本社", start), 0},
		{"same event, other body", eventCampaign("b", "本社", start), 0},
		{"moved to another room", eventCampaign("c", "別館", start), 1},
		{"moved an hour later", eventCampaign("d", "別館", start.Add(time.Hour)), 2},
		{"back to the first file", eventCampaign("a", "本社", start), 3},
	}
	steps[1].c.Subject["ja"] = "本文だけ変更"
	for _, s := range steps {
		v, err := runs.RegisterVersion(ctx, db.DB, s.c)
		if err != nil {
			t.Fatal(err)
		}
		got, err := runs.LoadVersion(ctx, db.DB, v)
		if err != nil {
			t.Fatal(err)
		}
		if got.Event.Sequence != s.seq {
			t.Errorf("%s: SEQUENCE %d, want %d", s.name, got.Event.Sequence, s.seq)
		}
		cur, err := runs.CurrentVersion(ctx, db.DB, "party")
		if err != nil || cur != v {
			t.Errorf("%s: current version %d (%v), want %d", s.name, cur, err, v)
		}
	}
}

func TestCurrentVersionOfUnknownCampaign(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	if _, err := runs.CurrentVersion(context.Background(), db.DB, "nope"); err == nil {
		t.Fatal("unknown campaign has a current version")
	}
}
