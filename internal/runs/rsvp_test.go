package runs_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/store"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
)

var eventStart = time.Date(2026, 12, 18, 10, 0, 0, 0, time.UTC) // 19:00 JST

// rsvpEvent is an event invitation with capacity places (0: no limit)
// and an RSVP deadline a week before the event.
func rsvpEvent(id string, capacity int) *campaigns.Campaign {
	c := newsletter(id)
	c.Kind = campaigns.KindEvent
	dl := eventStart.Add(-7 * 24 * time.Hour)
	c.Event = &campaigns.Event{Title: "年末アルムナイ交流会", StartsAt: eventStart, EndsAt: eventStart.Add(2 * time.Hour),
		Location: "東京都渋谷区", Capacity: capacity, RSVPDeadline: &dl, Reminders: []time.Duration{72 * time.Hour}}
	return c
}

// invited sends c's invitation run to n new alumni and returns each one's
// delivery id, in alumni order.
func invited(t *testing.T, db *testdb.DB, c *campaigns.Campaign, n int) []int64 {
	t.Helper()
	ctx := context.Background()
	ids := addAlumni(t, db, n)
	st, err := runs.Start(ctx, db.DB, c, "manual:1", runs.KindSend, nil)
	if err != nil {
		t.Fatal(err)
	}
	deliveries := make([]int64, n)
	for i, a := range ids {
		if err := db.Get(&deliveries[i], `SELECT id FROM deliveries WHERE run_id = $1 AND alumni_id = $2`, st.Run.ID, a); err != nil {
			t.Fatal(err)
		}
	}
	return deliveries
}

var beforeDeadline = eventStart.Add(-10 * 24 * time.Hour)

func answer(t *testing.T, db *testdb.DB, delivery int64, a string, at time.Time) runs.RSVPResult {
	t.Helper()
	res, err := runs.RecordRSVP(context.Background(), db.DB, runs.Answer{DeliveryID: delivery, Answer: a, At: at, Via: "web"}, nil)
	if err != nil {
		t.Fatalf("RecordRSVP(%d, %s): %v", delivery, a, err)
	}
	return res
}

// notices counts the campaign's notice deliveries by notice and state,
// e.g. "confirm_yes/pending".
func notices(t *testing.T, db *testdb.DB, campaignID string) map[string]int {
	t.Helper()
	var rows []struct {
		Notice string `db:"notice"`
		State  string `db:"state"`
		N      int    `db:"n"`
	}
	if err := db.Select(&rows, `SELECT d.notice, d.state, count(*) AS n FROM deliveries d JOIN runs r ON r.id = d.run_id
		WHERE r.campaign_id = $1 AND r.kind = 'notice' GROUP BY 1, 2`, campaignID); err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, r := range rows {
		out[r.Notice+"/"+r.State] = r.N
	}
	return out
}

func guestCounts(t *testing.T, db *testdb.DB, campaignID string) (guests, waiting int) {
	t.Helper()
	if err := db.QueryRow(`SELECT count(*) FILTER (WHERE answer = 'yes' AND NOT waitlisted), count(*) FILTER (WHERE waitlisted)
		FROM rsvps WHERE campaign_id = $1`, campaignID).Scan(&guests, &waiting); err != nil {
		t.Fatal(err)
	}
	return guests, waiting
}

func TestRSVPRecordsConfirmsAndIgnoresTheSameAnswerAgain(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	c := rsvpEvent("ev-basic", 0)
	d := invited(t, db, c, 1)[0]

	if res := answer(t, db, d, runs.AnswerYes, beforeDeadline); !res.Changed || res.Waitlisted || res.Answer != runs.AnswerYes {
		t.Fatalf("first yes: %+v", res)
	}
	if res := answer(t, db, d, runs.AnswerYes, beforeDeadline.Add(time.Minute)); res.Changed {
		t.Fatalf("the same answer again changed something: %+v", res)
	}
	if got := notices(t, db, c.ID); got["confirm_yes/pending"] != 1 || len(got) != 1 {
		t.Fatalf("notices after yes, yes: %v; want one confirmation", got)
	}
	// Changing the answer before the first confirmation went out: only
	// the latest is sent.
	answer(t, db, d, runs.AnswerMaybe, beforeDeadline.Add(2*time.Minute))
	got := notices(t, db, c.ID)
	if got["confirm_yes/cancelled"] != 1 || got["confirm_maybe/pending"] != 1 {
		t.Fatalf("notices after yes, maybe: %v; want the yes confirmation cancelled and a maybe one pending", got)
	}
	v, err := runs.LoadRSVP(context.Background(), db.DB, d)
	if err != nil {
		t.Fatal(err)
	}
	if v.Answer != runs.AnswerMaybe || v.Campaign.Event.Title != c.Event.Title || !v.Deadline.Equal(*c.Event.RSVPDeadline) {
		t.Fatalf("view: %+v", v)
	}
	var run runs.Run
	if err := db.Get(&run, `SELECT id, campaign_id, version_id, number, kind, occurrence, state, pause_reason, started_at, expanded_at, finished_at
		FROM runs WHERE campaign_id = $1 AND kind = 'notice'`, c.ID); err != nil {
		t.Fatal(err)
	}
	if run.State != runs.StateSending || run.ExpandedAt == nil || run.Number != 2 {
		t.Fatalf("notice run: %+v; want run 2, sending, expanded", run)
	}
}

func TestRSVPAfterTheDeadlineChangesNothing(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	c := rsvpEvent("ev-deadline", 0)
	d := invited(t, db, c, 1)[0]
	answer(t, db, d, runs.AnswerYes, beforeDeadline)
	for _, at := range []time.Time{*c.Event.RSVPDeadline, c.Event.RSVPDeadline.Add(time.Second)} {
		_, err := runs.RecordRSVP(context.Background(), db.DB, runs.Answer{DeliveryID: d, Answer: runs.AnswerNo, At: at}, nil)
		if !errors.Is(err, runs.ErrRSVPClosed) {
			t.Fatalf("answer at %s: err = %v, want ErrRSVPClosed", at, err)
		}
	}
	v, err := runs.LoadRSVP(context.Background(), db.DB, d)
	if err != nil {
		t.Fatal(err)
	}
	if v.Answer != runs.AnswerYes || !v.Closed(*c.Event.RSVPDeadline) || v.Closed(beforeDeadline) {
		t.Fatalf("after a late no: %+v", v)
	}
	if got := notices(t, db, c.ID); len(got) != 1 {
		t.Fatalf("notices: %v; want only the yes confirmation", got)
	}
	if _, err := runs.RecordRSVP(context.Background(), db.DB, runs.Answer{DeliveryID: d, Answer: "perhaps", At: beforeDeadline}, nil); !errors.Is(err, runs.ErrBadAnswer) {
		t.Fatalf("bad answer: err = %v", err)
	}
	if _, err := runs.LoadRSVP(context.Background(), db.DB, d+1000); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown delivery: err = %v", err)
	}
}

func TestRSVPOfANewsletterIsNotFound(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	d := invited(t, db, newsletter("news-rsvp"), 1)[0]
	if _, err := runs.RecordRSVP(context.Background(), db.DB, runs.Answer{DeliveryID: d, Answer: runs.AnswerYes, At: beforeDeadline}, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("err = %v, want store.ErrNotFound", err)
	}
}

// TestRSVPCapacityHoldsUnderConcurrentAnswers: 40 people answer yes at
// once for 7 places, from 40 goroutines on their own connections.
func TestRSVPCapacityHoldsUnderConcurrentAnswers(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	const capacity, people = 7, 40
	c := rsvpEvent("ev-race", capacity)
	ds := invited(t, db, c, people)
	var wg sync.WaitGroup
	errs := make(chan error, people)
	for i, d := range ds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := runs.RecordRSVP(context.Background(), db.DB, runs.Answer{DeliveryID: d, Answer: runs.AnswerYes, At: beforeDeadline.Add(time.Duration(i) * time.Millisecond)}, nil)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	guests, waiting := guestCounts(t, db, c.ID)
	if guests != capacity || waiting != people-capacity {
		t.Fatalf("%d guests and %d waiting; want exactly %d and %d", guests, waiting, capacity, people-capacity)
	}
	if got := notices(t, db, c.ID); got["confirm_yes/pending"] != capacity || got["waitlisted/pending"] != people-capacity {
		t.Fatalf("notices: %v", got)
	}
	// Positions are 1..n in the order of the answers.
	var positions []int
	for _, d := range ds {
		v, err := runs.LoadRSVP(context.Background(), db.DB, d)
		if err != nil {
			t.Fatal(err)
		}
		if v.Waitlisted {
			positions = append(positions, v.Position)
		}
	}
	seen := map[int]bool{}
	for _, p := range positions {
		if p < 1 || p > people-capacity || seen[p] {
			t.Fatalf("waiting-list positions %v are not 1..%d", positions, people-capacity)
		}
		seen[p] = true
	}
}

// TestRSVPPromotesOnceWhenPlacesFree: guests who change to no and a raised
// capacity, concurrently, move the waiting list up in order, each person
// once, and each promoted person gets one promotion notice.
func TestRSVPPromotesOnceWhenPlacesFree(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	ctx := context.Background()
	c := rsvpEvent("ev-promote", 5)
	ds := invited(t, db, c, 15)
	for i, d := range ds {
		answer(t, db, d, runs.AnswerYes, beforeDeadline.Add(time.Duration(i)*time.Second))
	}
	// 3 guests say no while HR raises the capacity from 5 to 7, at once.
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := runs.RecordRSVP(ctx, db.DB, runs.Answer{DeliveryID: ds[i], Answer: runs.AnswerNo, At: beforeDeadline.Add(time.Hour)}, nil); err != nil {
				t.Error(err)
			}
		}()
	}
	bigger := rsvpEvent("ev-promote", 7)
	bigger.Digest = "bigger"
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := runs.RegisterVersion(ctx, db.DB, bigger); err != nil {
			t.Error(err)
		}
	}()
	wg.Wait()
	guests, waiting := guestCounts(t, db, c.ID)
	if guests != 7 || waiting != 15-3-7 {
		t.Fatalf("%d guests, %d waiting; want 7 and 5", guests, waiting)
	}
	// The first five on the list (answers 6..10) were promoted, in order.
	var promoted []int64
	if err := db.Select(&promoted, `SELECT d.alumni_id FROM deliveries d JOIN runs r ON r.id = d.run_id
		WHERE r.campaign_id = $1 AND d.notice = 'promoted' ORDER BY d.alumni_id`, c.ID); err != nil {
		t.Fatal(err)
	}
	var want []int64
	if err := db.Select(&want, `SELECT alumni_id FROM deliveries WHERE id = ANY($1) ORDER BY alumni_id`, int64s(ds[5:10])); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(promoted) != fmt.Sprint(want) {
		t.Fatalf("promoted %v; want %v, each once", promoted, want)
	}
	// Lowering the capacity again moves nobody back.
	smaller := rsvpEvent("ev-promote", 3)
	smaller.Digest = "smaller"
	if _, err := runs.RegisterVersion(ctx, db.DB, smaller); err != nil {
		t.Fatal(err)
	}
	if g, _ := guestCounts(t, db, c.ID); g != 7 {
		t.Fatalf("after lowering the capacity: %d guests, want 7 kept", g)
	}
}

// TestReminderGoesOnlyToGuests: the reminder run is expanded for guests
// only, and a guest who says no before it is sent gets none.
func TestReminderGoesOnlyToGuests(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	ctx := context.Background()
	c := rsvpEvent("ev-remind", 2)
	ds := invited(t, db, c, 6)
	answer(t, db, ds[0], runs.AnswerYes, beforeDeadline)
	answer(t, db, ds[1], runs.AnswerYes, beforeDeadline.Add(time.Second))
	answer(t, db, ds[2], runs.AnswerYes, beforeDeadline.Add(2*time.Second)) // waitlisted
	answer(t, db, ds[3], runs.AnswerMaybe, beforeDeadline)
	answer(t, db, ds[4], runs.AnswerNo, beforeDeadline)
	st, err := runs.Start(ctx, db.DB, c, "reminder:72h:x", runs.KindReminder, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Deliveries != 2 {
		t.Fatalf("reminder run has %d deliveries; want the 2 guests", st.Deliveries)
	}
	// Guest 0 says no before the reminder goes out: theirs is cancelled
	// and the first on the waiting list is promoted.
	answer(t, db, ds[0], runs.AnswerNo, beforeDeadline.Add(time.Hour))
	var states []string
	if err := db.Select(&states, `SELECT state FROM deliveries WHERE run_id = $1 ORDER BY alumni_id`, st.Run.ID); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(states) != "[cancelled pending]" {
		t.Fatalf("reminder deliveries: %v; want the no-sayer's cancelled", states)
	}
}

// TestEventChangesAreAnnouncedOnce: four schedulers see a changed time,
// then a cancellation, at once; each is announced by exactly one run, to
// the guests, the waiting list and the undecided.
func TestEventChangesAreAnnouncedOnce(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	ctx := context.Background()
	c := rsvpEvent("ev-change", 1)
	ds := invited(t, db, c, 5)
	answer(t, db, ds[0], runs.AnswerYes, beforeDeadline)
	answer(t, db, ds[1], runs.AnswerYes, beforeDeadline.Add(time.Second)) // waitlisted
	answer(t, db, ds[2], runs.AnswerMaybe, beforeDeadline)
	answer(t, db, ds[3], runs.AnswerNo, beforeDeadline)

	// Unchanged: nothing to announce.
	if st, err := runs.AnnounceEventChange(ctx, db.DB, c, nil); err != nil || st != nil {
		t.Fatalf("unchanged event: %+v, %v", st, err)
	}
	moved := rsvpEvent("ev-change", 1)
	moved.Digest = "moved"
	moved.Event.Location = "東京都港区"
	announceAll := func(c *campaigns.Campaign) {
		t.Helper()
		if _, err := runs.RegisterVersion(ctx, db.DB, c); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := runs.AnnounceEventChange(ctx, db.DB, c, nil); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	announceAll(moved)
	announceAll(moved) // seen again by a later scheduler
	cancelled := rsvpEvent("ev-change", 1)
	cancelled.Digest = "cancelled"
	cancelled.Event.Location = "東京都港区"
	cancelled.Event.Cancelled = true
	announceAll(cancelled)

	var got []struct {
		Kind       string `db:"kind"`
		Occurrence string `db:"occurrence"`
		Seq        int    `db:"event_sequence"`
		N          int    `db:"n"`
	}
	if err := db.Select(&got, `SELECT r.kind, r.occurrence, v.event_sequence, (SELECT count(*) FROM deliveries d WHERE d.run_id = r.id) AS n
		FROM runs r JOIN campaign_versions v ON v.id = r.version_id
		WHERE r.campaign_id = $1 AND r.kind IN ('update', 'cancellation') ORDER BY r.number`, c.ID); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[{update update:1 1 3} {cancellation cancellation 2 3}]" {
		t.Fatalf("announcement runs: %v; want one update (SEQUENCE 1) and one cancellation (SEQUENCE 2), 3 recipients each", got)
	}
	// A cancelled event takes no more answers.
	if _, err := runs.RecordRSVP(ctx, db.DB, runs.Answer{DeliveryID: ds[4], Answer: runs.AnswerYes, At: beforeDeadline}, nil); !errors.Is(err, runs.ErrEventCancelled) {
		t.Fatalf("answer to a cancelled event: err = %v", err)
	}
}

func int64s(v []int64) any { return pq.Int64Array(v) }

// TestEventEditedBackIsAnnouncedAgain: a place changed and changed back,
// and a cancellation withdrawn, are each a change for calendars: each is
// announced with the next SEQUENCE, and the invitation's own version keeps
// the SEQUENCE it was sent with.
func TestEventEditedBackIsAnnouncedAgain(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	ctx := context.Background()
	c := rsvpEvent("ev-back", 0)
	ds := invited(t, db, c, 2)
	answer(t, db, ds[0], runs.AnswerYes, beforeDeadline)
	edit := func(digest, place string, cancelled bool) {
		t.Helper()
		v := rsvpEvent("ev-back", 0)
		v.Digest, v.Event.Location, v.Event.Cancelled = digest, place, cancelled
		if _, err := runs.RegisterVersion(ctx, db.DB, v); err != nil {
			t.Fatal(err)
		}
		if _, err := runs.AnnounceEventChange(ctx, db.DB, v, nil); err != nil {
			t.Fatal(err)
		}
	}
	edit("moved", "東京都港区", false)
	edit(c.Digest, c.Event.Location, false) // back to the invitation's place
	edit("cancelled", c.Event.Location, true)
	edit(c.Digest, c.Event.Location, false) // the cancellation withdrawn
	var got []string
	if err := db.Select(&got, `SELECT r.kind || ' ' || r.occurrence || ' seq ' || v.event_sequence
		FROM runs r JOIN campaign_versions v ON v.id = r.version_id
		WHERE r.campaign_id = $1 AND r.kind <> 'notice' ORDER BY r.number`, c.ID); err != nil {
		t.Fatal(err)
	}
	want := "[send manual:1 seq 0 update update:1 seq 1 update update:2 seq 2 cancellation cancellation seq 3 update update:4 seq 4]"
	if fmt.Sprint(got) != want {
		t.Fatalf("runs: %v\nwant %s", got, want)
	}
}
