package runs_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/store"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
)

// person is one alumnus of the attendee tests with the RSVP written for them.
type person struct {
	email, family, given, familyKana, givenKana, dept string
	answer                                            string // "" for no RSVP
	waitlisted                                        bool
	at                                                time.Time
	forgotten                                         bool
}

// addPeople inserts the people (kana by SQL: the factory has no kana
// columns) and their RSVPs to campaign, and returns their ids in order.
func addPeople(t *testing.T, db *testdb.DB, campaign string, people []person) []int64 {
	t.Helper()
	rows := make([]testdb.Alumnus, len(people))
	for i, p := range people {
		rows[i] = testdb.Alumnus{Email: p.email, FamilyName: p.family, GivenName: p.given, Department: p.dept, Consent: true}
	}
	ids := testdb.Alumni(t, db, rows...)
	for i, p := range people {
		mustExec(t, db, `UPDATE alumni SET family_name_kana = $2, given_name_kana = $3 WHERE id = $1`, ids[i], p.familyKana, p.givenKana)
		if p.answer != "" {
			mustExec(t, db, `INSERT INTO rsvps (campaign_id, alumni_id, answer, waitlisted, answered_at) VALUES ($1, $2, $3, $4, $5)`,
				campaign, ids[i], p.answer, p.waitlisted, p.at)
		}
		if p.forgotten {
			mustExec(t, db, `UPDATE alumni SET status = 'forgotten', email = NULL, family_name = '', given_name = '',
				family_name_kana = '', given_name_kana = '', department = '' WHERE id = $1`, ids[i])
		}
	}
	return ids
}

func eventRow(t *testing.T, db *testdb.DB, id string) {
	t.Helper()
	testdb.Campaign(t, db, testdb.CampaignOpts{ID: id, Kind: "event"})
}

// TestAttendeesOrder: guests first by kana (hiragana, half-width and
// full-width katakana sorting together, people without kana last), then
// the waiting list in order of answer with positions 1..n that skip a
// forgotten person, then maybe, then no; forgotten people are left out.
func TestAttendeesOrder(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	ctx := context.Background()
	eventRow(t, db, "party")
	eventRow(t, db, "other")
	t0 := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	addPeople(t, db, "party", []person{
		// Guests, inserted out of kana order.
		{email: "suzuki@example.jp", family: "鈴木", given: "一郎", familyKana: "スズキ", givenKana: "イチロウ", dept: "営業部", answer: "yes", at: at(5)},
		{email: "smith@example.jp", family: "Smith", given: "Anna", answer: "yes", at: at(1)},
		{email: "ando@example.jp", family: "安藤", given: "花子", familyKana: "あんどう", givenKana: "はなこ", dept: "人事部", answer: "yes", at: at(9)},
		{email: "sato@example.jp", family: "佐藤", given: "次郎", familyKana: "ｻﾄｳ", givenKana: "ｼﾞﾛｳ", answer: "yes", at: at(3)},
		{email: "sato2@example.jp", family: "佐藤", given: "一子", familyKana: "サトウ", givenKana: "イチコ", answer: "yes", at: at(4)},
		// The waiting list: by answered_at, then by id, never by kana
		// (wada answered at the same time as aoki, and has the lower id);
		// a forgotten person among them takes no number.
		{email: "wada@example.jp", family: "和田", given: "三", familyKana: "ワダ", answer: "yes", waitlisted: true, at: at(30)},
		{email: "watanabe@example.jp", family: "渡辺", given: "一", familyKana: "ワタナベ", answer: "yes", waitlisted: true, at: at(10)},
		{email: "gone@example.jp", family: "消", given: "去", familyKana: "アアア", answer: "yes", waitlisted: true, at: at(15), forgotten: true},
		{email: "aoki@example.jp", family: "青木", given: "二", familyKana: "アオキ", answer: "yes", waitlisted: true, at: at(30)},
		// Maybe and no.
		{email: "m2@example.jp", family: "山本", familyKana: "ヤマモト", answer: "maybe", at: at(2)},
		{email: "m1@example.jp", family: "伊藤", familyKana: "イトウ", answer: "maybe", at: at(8)},
		{email: "n1@example.jp", family: "中村", familyKana: "ナカムラ", answer: "no", at: at(6)},
		{email: "gone2@example.jp", family: "消", familyKana: "ア", answer: "no", at: at(6), forgotten: true},
		// No answer, and an answer to another campaign.
		{email: "silent@example.jp", family: "無言", familyKana: "ムゴン"},
	})
	other := testdb.Alumni(t, db, testdb.Alumnus{Email: "elsewhere@example.jp"})
	mustExec(t, db, `INSERT INTO rsvps (campaign_id, alumni_id, answer) VALUES ('other', $1, 'yes')`, other[0])

	got, err := runs.Attendees(ctx, db.DB, "party")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, a := range got {
		lines = append(lines, fmt.Sprintf("%s %s %v %d", a.Email, a.Answer, a.Waitlisted, a.Position))
	}
	want := []string{
		"ando@example.jp yes false 0",  // アンドウ
		"sato2@example.jp yes false 0", // サトウ イチコ
		"sato@example.jp yes false 0",  // ｻﾄｳ ｼﾞﾛｳ = サトウ ジロウ
		"suzuki@example.jp yes false 0",
		"smith@example.jp yes false 0", // no kana: last of the guests
		"watanabe@example.jp yes true 1",
		"wada@example.jp yes true 2",
		"aoki@example.jp yes true 3",
		"m1@example.jp maybe false 0",
		"m2@example.jp maybe false 0",
		"n1@example.jp no false 0",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("attendees:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	suzuki := got[3]
	if suzuki.FamilyName != "鈴木" || suzuki.GivenName != "一郎" || suzuki.FamilyNameKana != "スズキ" ||
		suzuki.GivenNameKana != "イチロウ" || suzuki.Department != "営業部" || !suzuki.AnsweredAt.Equal(at(5)) {
		t.Errorf("suzuki = %+v", suzuki)
	}
}

func TestAttendeesUnknownAndEmpty(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	ctx := context.Background()
	if _, err := runs.Attendees(ctx, db.DB, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown campaign: %v, want store.ErrNotFound", err)
	}
	eventRow(t, db, "party")
	got, err := runs.Attendees(ctx, db.DB, "party")
	if err != nil || got == nil || len(got) != 0 {
		t.Errorf("a campaign without answers: %v, %v; want an empty list", got, err)
	}
}

// TestStatusCountsRSVPsOfTheRunsRecipients: per run, rsvp_yes counts the
// guests only, waitlisted the waiting list, each recipient once, with the
// answer they hold now whichever mail carried it (here the reminder's link
// carried one of the invitation's answers, and one answer has no delivery).
func TestStatusCountsRSVPsOfTheRunsRecipients(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	ctx := context.Background()
	eventRow(t, db, "party")
	t0 := time.Now().Add(-time.Hour)
	ids := addPeople(t, db, "party", []person{
		{email: "y1@example.jp", answer: "yes", at: t0},
		{email: "y2@example.jp", answer: "yes", at: t0},
		{email: "y3@example.jp", answer: "yes", at: t0},
		{email: "w1@example.jp", answer: "yes", waitlisted: true, at: t0},
		{email: "w2@example.jp", answer: "yes", waitlisted: true, at: t0},
		{email: "m1@example.jp", answer: "maybe", at: t0},
		{email: "n1@example.jp", answer: "no", at: t0},
		{email: "silent@example.jp"},
		{email: "outsider@example.jp", answer: "yes", at: t0}, // not invited by run 1
	})
	send := testdb.Run(t, db, testdb.RunOpts{Campaign: "party", Number: 1, State: "done"})
	invites := testdb.Deliveries(t, db, testdb.DeliveriesOpts{Run: send, Alumni: ids[:8], State: "sent"})
	reminder := testdb.Run(t, db, testdb.RunOpts{Campaign: "party", Number: 2, Kind: "reminder", State: "done"})
	reminders := testdb.Deliveries(t, db, testdb.DeliveriesOpts{Run: reminder, Alumni: ids[:3], State: "sent"})
	// y1 answered through the invitation, y2 through the reminder (and
	// changed to no since), y3's answer carries no delivery.
	mustExec(t, db, `UPDATE rsvps SET delivery_id = $2 WHERE alumni_id = $1`, ids[0], invites[0])
	mustExec(t, db, `UPDATE rsvps SET delivery_id = $2, answer = 'no' WHERE alumni_id = $1`, ids[1], reminders[1])
	for i := 3; i < 7; i++ {
		mustExec(t, db, `UPDATE rsvps SET delivery_id = $2 WHERE alumni_id = $1`, ids[i], invites[i])
	}

	st, err := runs.Status(ctx, db.DB, "party")
	if err != nil || len(st) != 2 {
		t.Fatalf("status = %+v, %v", st, err)
	}
	counts := func(r runs.RunStatus) string {
		return fmt.Sprintf("yes=%d no=%d maybe=%d waitlisted=%d", r.RSVPYes, r.RSVPNo, r.RSVPMaybe, r.Waitlisted)
	}
	if got, want := counts(st[0]), "yes=2 no=2 maybe=1 waitlisted=2"; got != want {
		t.Errorf("run 1 (invitation): %s, want %s", got, want)
	}
	if got, want := counts(st[1]), "yes=2 no=1 maybe=0 waitlisted=0"; got != want {
		t.Errorf("run 2 (reminder): %s, want %s", got, want)
	}
}
