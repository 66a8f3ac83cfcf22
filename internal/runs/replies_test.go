package runs_test

import (
	"slices"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/store"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
)

// TestRepliesListsHumanRepliesNewestFirstPerCampaign records replies and
// an automatic reply on the deliveries of two campaigns through
// RecordInboundEvent: Replies lists only the human ones, newest first,
// with the person, the run and the reply's subject and excerpt; a campaign
// id keeps its own, "" keeps all, limit cuts.
func TestRepliesListsHumanRepliesNewestFirstPerCampaign(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	ctx := t.Context()
	people := addAlumni(t, db, 3)
	send := func(id string) []int64 {
		v, err := runs.RegisterVersion(ctx, db.DB, newsletter(id))
		if err != nil {
			t.Fatal(err)
		}
		r, _, err := runs.Create(ctx, db.DB, v, "o1", runs.KindSend)
		if err != nil {
			t.Fatal(err)
		}
		return testdb.Deliveries(t, db, testdb.DeliveriesOpts{Run: r.ID, Alumni: people, State: "sent"})
	}
	news, party := send("news"), send("party")
	record := func(d int64, kind string, inbound int64, subject string) {
		err := store.InTx(ctx, db.DB, func(tx *sqlx.Tx) error {
			_, err := runs.RecordInboundEvent(ctx, tx, d, kind, inbound, map[string]any{
				"from": "a@example.jp", "subject": subject, "text": "本文 " + subject})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	record(news[0], runs.EventReply, 1, "Re: 1")
	record(news[1], runs.EventAutoReply, 2, "自動応答")
	record(party[2], runs.EventReply, 3, "Re: 2")
	record(news[2], runs.EventReply, 4, "Re: 3")

	all, err := runs.Replies(ctx, db.DB, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for _, r := range all {
		subjects = append(subjects, r.Subject)
	}
	if got, want := subjects, []string{"Re: 3", "Re: 2", "Re: 1"}; !slices.Equal(got, want) {
		t.Fatalf("every campaign: %q, want %q", got, want)
	}
	r := all[0]
	if r.CampaignID != "news" || r.Run != 1 || r.RunKind != runs.KindSend || r.DeliveryID != news[2] ||
		r.FamilyName != "山田" || r.GivenName != "太郎2" || r.Email != "a2@example.jp" ||
		r.From != "a@example.jp" || r.Excerpt != "本文 Re: 3" || r.At.IsZero() || r.At.Location().String() != "UTC" {
		t.Errorf("newest reply %+v", r)
	}
	own, err := runs.Replies(ctx, db.DB, "news", 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(own) != 1 || own[0].Subject != "Re: 3" {
		t.Errorf("news, limit 1: %+v", own)
	}
	none, err := runs.Replies(ctx, db.DB, "nobody", 10)
	if err != nil || none == nil || len(none) != 0 {
		t.Errorf("unknown campaign: %v, %v (want an empty list)", none, err)
	}
}
