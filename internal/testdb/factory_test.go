package testdb_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/internal/testdb"
)

func TestAlumniWritesWhatItIsGivenAndDefaultsTheRest(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	at := time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC)
	ids := testdb.Alumni(t, db,
		testdb.Alumnus{Email: "plain@example.jp"},
		testdb.Alumnus{Email: "full@example.com", FamilyName: "Doe", GivenName: "John", Department: "Sales", Locale: "en",
			Timezone: "America/New_York", Tags: []string{"sales", "boomerang"}, Consent: true, ConsentedAt: at,
			Status: "unsubscribed", JoinedOn: "2015-10-01", LeftOn: "2022-06-30"},
		testdb.Alumnus{Email: "now@example.jp", Consent: true},
		testdb.Alumnus{Email: "nodate@example.jp", Consent: true, NoConsentDate: true},
		testdb.Alumnus{Status: "forgotten"},
	)
	if len(ids) != 5 || ids[0] >= ids[1] {
		t.Fatalf("ids %v, want 5 in insertion order", ids)
	}
	type row struct {
		Email       *string
		Family      string `db:"family_name"`
		Given       string `db:"given_name"`
		Dept        string `db:"department"`
		Locale      string
		Timezone    string
		Tags        string
		Consent     bool
		ConsentedAt *time.Time `db:"consented_at"`
		Status      string
		Joined      *string `db:"joined_on"`
		Left        *string `db:"left_on"`
	}
	get := func(id int64) row {
		var r row
		if err := db.Get(&r, `SELECT email, family_name, given_name, department, locale, timezone, array_to_string(tags, ' ') AS tags, consent, consented_at, status,
			joined_on::text AS joined_on, left_on::text AS left_on FROM alumni WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
		return r
	}
	plain := get(ids[0])
	if *plain.Email != "plain@example.jp" || plain.Locale != "ja" || plain.Timezone != "Asia/Tokyo" || plain.Tags != "" ||
		plain.Consent || plain.ConsentedAt != nil || plain.Status != "active" || plain.Joined != nil {
		t.Errorf("defaults: %+v", plain)
	}
	full := get(ids[1])
	if full.Family != "Doe" || full.Given != "John" || full.Dept != "Sales" || full.Locale != "en" || full.Timezone != "America/New_York" ||
		full.Tags != "sales boomerang" || !full.Consent || full.ConsentedAt == nil || !full.ConsentedAt.Equal(at) ||
		full.Status != "unsubscribed" || *full.Joined != "2015-10-01" || *full.Left != "2022-06-30" {
		t.Errorf("every column given: %+v", full)
	}
	if r := get(ids[2]); !r.Consent || r.ConsentedAt == nil {
		t.Errorf("consent without a time should be dated now: %+v", r)
	}
	if r := get(ids[3]); !r.Consent || r.ConsentedAt != nil {
		t.Errorf("NoConsentDate: %+v", r)
	}
	if r := get(ids[4]); r.Email != nil || r.Status != "forgotten" {
		t.Errorf("forgotten: %+v", r)
	}
}

func TestAlumniSeriesNumbersRows(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	ids := testdb.AlumniSeries(t, db, testdb.AlumniOpts{N: 3, From: 1, Email: "r%d@example.jp",
		Like: testdb.Alumnus{FamilyName: "山田", Consent: true},
		Each: func(i int, a *testdb.Alumnus) { a.GivenName = fmt.Sprint("太郎", i) }})
	var got []string
	if err := db.Select(&got, `SELECT email || ' ' || family_name || ' ' || given_name || ' ' || consent FROM alumni ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 3 {
		t.Errorf("ids %v, want 3", ids)
	}
	if want := "[r1@example.jp 山田 太郎1 true r2@example.jp 山田 太郎2 true r3@example.jp 山田 太郎3 true]"; fmt.Sprint(got) != want {
		t.Errorf("rows %v, want %s", got, want)
	}
	if more := testdb.AlumniSeries(t, db, testdb.AlumniOpts{N: 2, Email: "x%d@example.jp"}); len(more) != 2 {
		t.Errorf("second series: %v", more)
	}
}

func TestCampaignRunDeliveries(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	alumni := testdb.AlumniSeries(t, db, testdb.AlumniOpts{N: 3})
	v := testdb.Campaign(t, db, testdb.CampaignOpts{ID: "party", Kind: "event"})
	run := testdb.Run(t, db, testdb.RunOpts{Campaign: "party", State: "done"})
	sent := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
	ids := testdb.Deliveries(t, db, testdb.DeliveriesOpts{Run: run, Alumni: alumni[:1], State: "sent", SentAt: sent,
		MessageID: "m1@kizuna", SMTPReply: "250 OK"})
	queued := testdb.Deliveries(t, db, testdb.DeliveriesOpts{Run: run, Alumni: alumni[1:], QueuedUntil: time.Now().Add(time.Hour)})
	if len(ids) != 1 || len(queued) != 2 {
		t.Fatalf("delivery ids %v %v", ids, queued)
	}
	var r struct {
		Kind, State, Occurrence, RunKind string
		Number                           int
		Version                          int64
	}
	if err := db.Get(&r, `SELECT c.kind, r.state, r.occurrence, r.kind AS runkind, r.number, r.version_id AS version
		FROM runs r JOIN campaigns c ON c.id = r.campaign_id WHERE r.id = $1`, run); err != nil {
		t.Fatal(err)
	}
	if r.Kind != "event" || r.State != "done" || r.Occurrence != "o1" || r.RunKind != "send" || r.Number != 1 || r.Version != v {
		t.Errorf("run %+v, version %d", r, v)
	}
	var d struct {
		State, Reply string
		Message      *string
		SentAt       *time.Time `db:"sent_at"`
	}
	if err := db.Get(&d, `SELECT state, smtp_reply AS reply, message_id AS message, sent_at FROM deliveries WHERE id = $1`, ids[0]); err != nil {
		t.Fatal(err)
	}
	if d.State != "sent" || d.Reply != "250 OK" || *d.Message != "m1@kizuna" || !d.SentAt.Equal(sent) {
		t.Errorf("sent delivery %+v", d)
	}
	var pending int
	db.Get(&pending, `SELECT count(*) FROM deliveries WHERE run_id = $1 AND state = 'pending' AND queued_until > now() AND message_id IS NULL AND sent_at IS NULL`, run)
	if pending != 2 {
		t.Errorf("%d queued pending deliveries, want 2", pending)
	}
}
