package testdb

// Row factories, after River's testfactory (rivershared/testfactory:
// testfactory.Job(ctx, t, exec, &JobOpts{…})): a test says only the columns
// it cares about, every other column takes its default, and a change of the
// schema is made here once instead of in every test file. They write with
// SQL directly: testdb is a test helper and may name any table.

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Alumnus is one alumni row for Alumni. An empty text field takes the
// column's default (locale ja, timezone Asia/Tokyo, status active).
type Alumnus struct {
	// Email is the address, lower case (the column checks it); empty
	// writes NULL, which only a forgotten person has.
	Email      string
	FamilyName string
	GivenName  string
	Department string
	Locale     string // "ja" or "en"
	Timezone   string // an IANA zone name
	Tags       []string
	// Consent is the consent flag. With it, consented_at is ConsentedAt,
	// or the transaction's now() when that is zero, unless NoConsentDate
	// is set; without it consented_at is NULL.
	Consent       bool
	ConsentedAt   time.Time
	NoConsentDate bool
	Status        string // active | unsubscribed | bounced | forgotten
	// JoinedOn and LeftOn are dates as "2006-01-02"; empty writes NULL.
	JoinedOn, LeftOn string
}

// Alumni inserts rows, in order, in one statement and returns their ids in
// the same order; an insert the schema refuses fails t.
func Alumni(t testing.TB, db sqlx.QueryerContext, rows ...Alumnus) []int64 {
	t.Helper()
	n := len(rows)
	email, family, given, dept := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	locale, zone, tags := make([]string, n), make([]string, n), make([]string, n)
	consent, consentedAt, status := make([]bool, n), make([]string, n), make([]string, n)
	joined, left := make([]string, n), make([]string, n)
	for i, r := range rows {
		email[i], family[i], given[i], dept[i] = r.Email, r.FamilyName, r.GivenName, r.Department
		locale[i], zone[i], status[i] = r.Locale, r.Timezone, r.Status
		joined[i], left[i] = r.JoinedOn, r.LeftOn
		tj, _ := json.Marshal(r.Tags)
		tags[i] = string(tj)
		consent[i] = r.Consent
		switch {
		case !r.Consent || r.NoConsentDate:
		case r.ConsentedAt.IsZero():
			consentedAt[i] = "now"
		default:
			consentedAt[i] = r.ConsentedAt.Format(time.RFC3339Nano)
		}
	}
	rs, err := db.QueryContext(context.Background(), `
		INSERT INTO alumni (email, family_name, given_name, department, locale, timezone, tags,
		                    consent, consented_at, status, joined_on, left_on)
		SELECT NULLIF(e, ''), f, g, d, COALESCE(NULLIF(l, ''), 'ja'), COALESCE(NULLIF(z, ''), 'Asia/Tokyo'),
		       COALESCE(ARRAY(SELECT jsonb_array_elements_text(NULLIF(tg, 'null')::jsonb)), '{}'),
		       c, NULLIF(ca, '')::timestamptz, COALESCE(NULLIF(s, ''), 'active'),
		       NULLIF(j, '')::date, NULLIF(lo, '')::date
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
		            $8::bool[], $9::text[], $10::text[], $11::text[], $12::text[])
		     WITH ORDINALITY AS u(e, f, g, d, l, z, tg, c, ca, s, j, lo, ord)
		ORDER BY ord
		RETURNING id`,
		pq.StringArray(email), pq.StringArray(family), pq.StringArray(given), pq.StringArray(dept),
		pq.StringArray(locale), pq.StringArray(zone), pq.StringArray(tags), pq.BoolArray(consent),
		pq.StringArray(consentedAt), pq.StringArray(status), pq.StringArray(joined), pq.StringArray(left))
	if err != nil {
		t.Fatalf("testdb: insert %d alumni: %v", n, err)
	}
	return scanIDs(t, rs, n, "alumni")
}

// AlumniOpts describes N alumni numbered From, From+1, …; see AlumniSeries.
type AlumniOpts struct {
	// N is how many rows.
	N int
	// From is the number of the first row (0 unless set).
	From int
	// Email is a fmt pattern with one %d for the row's number;
	// "a%d@example.jp" when empty.
	Email string
	// Like gives every other column of every row (its Email is ignored).
	Like Alumnus
	// Each, when set, changes row i (its number) after Email and Like
	// are applied: a locale by i%5, a domain by i%4, a name with i.
	Each func(i int, a *Alumnus)
}

// AlumniSeries inserts the o.N alumni o describes in one statement and
// returns their ids in order of their numbers.
func AlumniSeries(t testing.TB, db sqlx.QueryerContext, o AlumniOpts) []int64 {
	t.Helper()
	pattern := o.Email
	if pattern == "" {
		pattern = "a%d@example.jp"
	}
	rows := make([]Alumnus, o.N)
	for k := range rows {
		i := o.From + k
		a := o.Like
		a.Email = fmt.Sprintf(pattern, i)
		if o.Each != nil {
			o.Each(i, &a)
		}
		rows[k] = a
	}
	return Alumni(t, db, rows...)
}

// CampaignOpts describes a campaign row and its one version for Campaign.
type CampaignOpts struct {
	// ID is the campaign id (lower case, digits and hyphens).
	ID string
	// Kind is "newsletter" (when empty) or "event".
	Kind string
	// Digest is the version's digest; "d1" when empty. The version's
	// definition is the empty object.
	Digest string
}

// Campaign inserts campaign o.ID with one version and returns the
// version's id. Tests that need a real definition
// register it through runs.RegisterVersion instead.
func Campaign(t testing.TB, db sqlx.QueryerContext, o CampaignOpts) int64 {
	t.Helper()
	kind, digest := o.Kind, o.Digest
	if kind == "" {
		kind = "newsletter"
	}
	if digest == "" {
		digest = "d1"
	}
	var id int64
	err := sqlx.GetContext(context.Background(), db, &id, `
		WITH c AS (INSERT INTO campaigns (id, kind) VALUES ($1, $2) RETURNING id)
		INSERT INTO campaign_versions (campaign_id, digest, definition) SELECT id, $3::text, '{}'::jsonb FROM c
		RETURNING id`,
		o.ID, kind, digest)
	if err != nil {
		t.Fatalf("testdb: insert campaign %q: %v", o.ID, err)
	}
	return id
}

// RunOpts describes a runs row for Run.
type RunOpts struct {
	// Campaign is the campaign's id; it must exist.
	Campaign string
	// Version is the campaign version's id; the campaign's latest
	// version when 0.
	Version int64
	// Number is the run's number within its campaign; 1 when 0.
	Number int
	// Kind is "send" (when empty) or "reminder".
	Kind string
	// Occurrence identifies the occurrence; "o<Number>" when empty.
	Occurrence string
	// State is the run's state; the column's default (expanding) when
	// empty.
	State string
}

// Run inserts the run o describes and returns its id.
func Run(t testing.TB, db sqlx.QueryerContext, o RunOpts) int64 {
	t.Helper()
	if o.Number == 0 {
		o.Number = 1
	}
	if o.Kind == "" {
		o.Kind = "send"
	}
	if o.Occurrence == "" {
		o.Occurrence = fmt.Sprintf("o%d", o.Number)
	}
	var id int64
	err := sqlx.GetContext(context.Background(), db, &id, `
		INSERT INTO runs (campaign_id, version_id, number, kind, occurrence, state)
		SELECT c.id, COALESCE(NULLIF($2::bigint, 0), (SELECT max(v.id) FROM campaign_versions v WHERE v.campaign_id = c.id)),
		       $3::int, $4::text, $5::text, COALESCE(NULLIF($6::text, ''), 'expanding')
		FROM campaigns c WHERE c.id = $1
		RETURNING id`, o.Campaign, o.Version, o.Number, o.Kind, o.Occurrence, o.State)
	if err != nil {
		t.Fatalf("testdb: insert run %d of %q: %v", o.Number, o.Campaign, err)
	}
	return id
}

// DeliveriesOpts describes deliveries of one run for Deliveries: one row
// per alumnus, all alike.
type DeliveriesOpts struct {
	// Run is the run's id.
	Run int64
	// Alumni are the recipients' ids, one delivery each.
	Alumni []int64
	// State is the deliveries' state; pending when empty.
	State string
	// SentAt is when they were sent; NULL when zero.
	SentAt time.Time
	// QueuedUntil marks them queued until then (an expander wrote them and
	// meant to enqueue them); NULL when zero.
	QueuedUntil time.Time
	// MessageID is the Message-ID of a single delivery (the column is
	// unique); NULL when empty.
	MessageID string
	// SMTPReply is the relay's last reply; empty when empty.
	SMTPReply string
}

// Deliveries inserts one delivery of run o.Run for each of o.Alumni and
// returns their ids in the same order.
func Deliveries(t testing.TB, db sqlx.QueryerContext, o DeliveriesOpts) []int64 {
	t.Helper()
	var sentAt, queuedUntil *time.Time
	if !o.SentAt.IsZero() {
		sentAt = &o.SentAt
	}
	if !o.QueuedUntil.IsZero() {
		queuedUntil = &o.QueuedUntil
	}
	rs, err := db.QueryContext(context.Background(), `
		INSERT INTO deliveries (run_id, alumni_id, state, sent_at, queued_until, message_id, smtp_reply)
		SELECT $1::bigint, a, COALESCE(NULLIF($3::text, ''), 'pending'), $4::timestamptz, $5::timestamptz, NULLIF($6::text, ''), $7::text
		FROM unnest($2::bigint[]) WITH ORDINALITY AS u(a, ord)
		ORDER BY ord
		RETURNING id`, o.Run, pq.Int64Array(o.Alumni), o.State, sentAt, queuedUntil, o.MessageID, o.SMTPReply)
	if err != nil {
		t.Fatalf("testdb: insert %d deliveries of run %d: %v", len(o.Alumni), o.Run, err)
	}
	return scanIDs(t, rs, len(o.Alumni), "deliveries")
}

// scanIDs reads the ids an INSERT … RETURNING id gave back and sorts them:
// rows inserted in a given order draw their serial ids in that order.
func scanIDs(t testing.TB, rs interface {
	Next() bool
	Scan(...any) error
	Err() error
	Close() error
}, n int, what string) []int64 {
	t.Helper()
	defer rs.Close()
	ids := make([]int64, 0, n)
	for rs.Next() {
		var id int64
		if err := rs.Scan(&id); err != nil {
			t.Fatalf("testdb: insert %s: %v", what, err)
		}
		ids = append(ids, id)
	}
	if err := rs.Err(); err != nil {
		t.Fatalf("testdb: insert %s: %v", what, err)
	}
	slices.Sort(ids)
	return ids
}
