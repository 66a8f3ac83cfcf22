package roster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/japanese"

	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/store"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
)

const richRoster = "email,family_name,given_name,family_name_kana,given_name_kana,employee_id,department,joined_on,left_on,locale,timezone,tags,consent,consented_at,consent_source\n" +
	"takahashi@example.jp,髙橋,一郎,タカハシ,イチロウ,E001,㈱開発部①,2001-04-01,2020-03-31,ja,Asia/Tokyo,engineering;boomerang,yes,2025-04-01,退職時アンケート\n" +
	"jane@example.com,Doe,Jane,,,,\"=HYPERLINK(\"\"http://x\"\")\",,2019/9/30,en,Europe/London,sales,no,,\n" +
	"+plus@example.org,-minus,@at,,,-7,\"comma, and \"\"quotes\"\"\",,,ja,America/Los_Angeles,,yes,,\n"

func exportString(t *testing.T, s *Store, opts ExportOptions) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := s.Export(context.Background(), &b, opts); err != nil {
		t.Fatalf("export: %v", err)
	}
	return b.Bytes()
}

func exportJSON(t *testing.T, s *Store) []Export {
	t.Helper()
	var out []Export
	if err := json.Unmarshal(exportString(t, s, ExportOptions{JSON: true}), &out); err != nil {
		t.Fatalf("export JSON: %v", err)
	}
	return out
}

func TestExportCSVForExcel(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	importString(t, s, richRoster, ImportOptions{})
	out := exportString(t, s, ExportOptions{})
	if !bytes.HasPrefix(out, []byte("\xEF\xBB\xBFemail,family_name,given_name,")) {
		t.Errorf("no BOM or header: %q", out[:min(40, len(out))])
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\r\n"), "\r\n")
	if len(lines) != 4 || strings.Contains(strings.Join(lines, ""), "\n") {
		t.Fatalf("want 4 CRLF lines, got %q", out)
	}
	if !strings.HasSuffix(lines[0], ",consent_source,status") {
		t.Errorf("header %q", lines[0])
	}
	for _, want := range []string{`'=HYPERLINK(""http://x"")`, "'+plus@example.org", "'-minus", "'@at", "'-7", "髙橋", "㈱開発部①", "engineering;boomerang", ",yes,2025-04-01T00:00:00+09:00,退職時アンケート,active"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("export lacks %q:\n%s", want, out)
		}
	}
}

// An export re-imports to the same roster: UTF-8 and CP932, into the same
// database (nothing changes) and into an empty one (the same data).
func TestExportReimports(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	importString(t, s, richRoster, ImportOptions{})
	want := exportJSON(t, s)
	for _, enc := range []string{EncodingUTF8, EncodingCP932} {
		t.Run(enc, func(t *testing.T) {
			t.Parallel()
			csv := exportString(t, s, ExportOptions{Encoding: enc})
			res, err := s.Import(context.Background(), bytes.NewReader(csv), ImportOptions{DryRun: true})
			if err != nil || counts(res) != [4]int{0, 0, 3, 0} || len(res.Warnings) != 0 {
				t.Fatalf("re-import into the same roster: %v %+v %v", counts(res), res, err)
			}
			fresh := NewStore(testdb.New(t).DB, s.now)
			res, err = fresh.Import(context.Background(), bytes.NewReader(csv), ImportOptions{})
			if err != nil || counts(res) != [4]int{3, 0, 0, 0} {
				t.Fatalf("import into an empty roster: %v %+v %v", counts(res), res.Rejected, err)
			}
			if got := exportJSON(t, fresh); !reflect.DeepEqual(got, want) {
				t.Errorf("round trip differs:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestExportCP932(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	importString(t, s, richRoster, ImportOptions{})
	out := exportString(t, s, ExportOptions{Encoding: EncodingCP932})
	if bytes.HasPrefix(out, []byte{0xEF, 0xBB, 0xBF}) {
		t.Errorf("CP932 export starts with a UTF-8 BOM")
	}
	text, err := japanese.ShiftJIS.NewDecoder().Bytes(out)
	if err != nil || !strings.Contains(string(text), "髙橋,一郎") || !strings.Contains(string(text), "㈱開発部①") {
		t.Errorf("CP932 export does not decode to the names: %v", err)
	}
	importString(t, s, "email,family_name\nemoji@example.com,😀\n", ImportOptions{})
	_, err = s.Export(context.Background(), &bytes.Buffer{}, ExportOptions{Encoding: EncodingCP932})
	if !errors.Is(err, ErrNotEncodable) || !strings.Contains(err.Error(), "emoji@example.com") || !strings.Contains(err.Error(), "family_name") {
		t.Errorf("err = %v, want ErrNotEncodable naming the person and column", err)
	}
}

func TestExportJSONShapeAndForgottenExcluded(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	importString(t, s, richRoster, ImportOptions{})
	if _, err := s.Forget(context.Background(), "jane@example.com"); err != nil {
		t.Fatal(err)
	}
	var raw []map[string]any
	if err := json.Unmarshal(exportString(t, s, ExportOptions{JSON: true}), &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw) != 2 {
		t.Fatalf("%d people exported, want 2 (forgotten excluded)", len(raw))
	}
	p := raw[0]
	if p["email"] != "takahashi@example.jp" || p["consent"] != true || p["consented_at"] != "2025-04-01T00:00:00+09:00" ||
		p["status"] != "active" || p["joined_on"] != "2001-04-01" || p["employee_id"] != "E001" {
		t.Errorf("object = %v", p)
	}
	if tags, ok := p["tags"].([]any); !ok || len(tags) != 2 || tags[0] != "engineering" {
		t.Errorf("tags = %#v", p["tags"])
	}
	if q := raw[1]; q["consented_at"] == nil || q["employee_id"] != "-7" || q["joined_on"] != nil {
		t.Errorf("second object = %v", q)
	}
	for _, key := range []string{"email", "family_name", "given_name", "family_name_kana", "given_name_kana", "employee_id", "department",
		"joined_on", "left_on", "locale", "timezone", "tags", "consent", "consented_at", "consent_source", "status"} {
		if _, ok := p[key]; !ok {
			t.Errorf("key %s missing", key)
		}
	}
}

func TestHistory(t *testing.T) {
	t.Parallel()
	s, db := newTestStore(t)
	importString(t, s, "email,family_name\nh@example.com,H\n", ImportOptions{})
	a := mustFind(t, s, "h@example.com")
	insertDelivery(t, db, a.ID, "year-end", "h@example.com")
	h, err := runs.History(context.Background(), db.DB, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range h {
		types = append(types, e.Type)
	}
	if strings.Join(types, ",") != "delivery,open,click,rsvp,reply" {
		t.Fatalf("history types %v", types)
	}
	if h[0].CampaignID != "year-end" || *h[0].Run != 1 || h[0].State != "sent" || h[0].At == nil {
		t.Errorf("delivery entry %+v", h[0])
	}
	if h[2].Target != "https://example.co.jp/events?u=h@example.com" || h[2].Classification != "human" {
		t.Errorf("click entry %+v", h[2])
	}
	if h[3].Answer != "yes" || *h[3].Waitlisted {
		t.Errorf("rsvp entry %+v", h[3])
	}
}

// insertDelivery writes a campaign, run, sent delivery, an open and a click
// (with the address in the places where real data would carry it) and an
// RSVP for an alumnus, by SQL, as the sending side will.
func insertDelivery(t *testing.T, db *testdb.DB, alumniID int64, campaign, email string) {
	t.Helper()
	testdb.Campaign(t, db, testdb.CampaignOpts{ID: campaign, Kind: "event"})
	run := testdb.Run(t, db, testdb.RunOpts{Campaign: campaign, State: "done"})
	deliveryID := testdb.Deliveries(t, db, testdb.DeliveriesOpts{Run: run, Alumni: []int64{alumniID}, State: "sent",
		SentAt: time.Now().Add(-3 * time.Hour), MessageID: "m1@kizuna", SMTPReply: "250 2.0.0 OK queued for " + email})[0]
	for _, q := range []string{
		`INSERT INTO delivery_events (delivery_id, kind, classification, ip, user_agent, detail, created_at)
		 VALUES ($1, 'open', 'human', '192.0.2.7', 'Mozilla/5.0 (' || $2::text || ')', '{}', now() - interval '2 hours')`,
		`INSERT INTO delivery_events (delivery_id, kind, classification, target, detail, created_at)
		 VALUES ($1, 'click', 'human', 'https://example.co.jp/events?u=' || $2::text, jsonb_build_object('from', $2::text), now() - interval '1 hour')`,
		`INSERT INTO delivery_events (delivery_id, kind, detail, created_at)
		 VALUES ($1, 'reply', jsonb_build_object('text', 'Thanks, ' || $2::text), now() + interval '1 hour')`,
	} {
		if _, err := db.Exec(q, deliveryID, email); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := db.Exec(`INSERT INTO rsvps (campaign_id, alumni_id, delivery_id, answer) VALUES ($1, $2, $3, 'yes')`, campaign, alumniID, deliveryID); err != nil {
		t.Fatal(err)
	}
}

func TestUnsubscribeResubscribe(t *testing.T) {
	t.Parallel()
	s, db := newTestStore(t)
	ctx := context.Background()
	importString(t, s, "email,consent\nu@example.com,yes\nb@example.com,yes\n", ImportOptions{})
	suppressed := func(email string) string {
		var reason string
		db.Get(&reason, `SELECT reason FROM suppressions WHERE email_hash = $1`, store.HashEmail(email))
		return reason
	}
	if out, err := s.Unsubscribe(ctx, "U@Example.com"); err != nil || out != Changed {
		t.Fatalf("unsubscribe: %v %v", out, err)
	}
	if out, err := s.Unsubscribe(ctx, "u@example.com"); err != nil || out != AlreadyDone {
		t.Fatalf("second unsubscribe: %v %v", out, err)
	}
	if a := mustFind(t, s, "u@example.com"); a.Status != "unsubscribed" || a.StatusChangedAt == nil || suppressed("u@example.com") != "unsubscribed" {
		t.Fatalf("after unsubscribe: %s %v %q", a.Status, a.StatusChangedAt, suppressed("u@example.com"))
	}
	if err := s.Resubscribe(ctx, "u@example.com", "  "); err == nil {
		t.Errorf("resubscribe without a source succeeded")
	}
	if err := s.Resubscribe(ctx, "u@example.com", "email to hr@ 2026-11-20"); err != nil {
		t.Fatal(err)
	}
	a := mustFind(t, s, "u@example.com")
	if a.Status != "active" || !a.Consent || !a.ConsentedAt.Equal(fixedNow) || a.ConsentSource != "email to hr@ 2026-11-20" || suppressed("u@example.com") != "" {
		t.Errorf("after resubscribe: %+v suppression %q", a, suppressed("u@example.com"))
	}
	var se *StatusError
	if err := s.Resubscribe(ctx, "u@example.com", "again"); !errors.As(err, &se) || se.Status != "active" {
		t.Errorf("resubscribe of an active person: %v", err)
	}
	db.Exec(`UPDATE alumni SET status = 'bounced' WHERE email = 'b@example.com'`)
	if err := s.Resubscribe(ctx, "b@example.com", "phone"); !errors.As(err, &se) || se.Status != "bounced" {
		t.Errorf("resubscribe of a bounced person: %v", err)
	}
	if err := s.Resubscribe(ctx, "nobody@example.com", "phone"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("resubscribe of an unknown person: %v", err)
	}
	if out, err := s.Unsubscribe(ctx, "b@example.com"); err != nil || out != NotMailed || mustFind(t, s, "b@example.com").Status != "bounced" {
		t.Errorf("unsubscribe of a bounced person: %v %v", out, err)
	}
	if _, err := s.Forget(ctx, "b@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := s.Resubscribe(ctx, "b@example.com", "phone"); !errors.As(err, &se) || se.Status != "forgotten" {
		t.Errorf("resubscribe of a forgotten person: %v", err)
	}
}

// After forget, no text or JSON column of any table holds the address or
// the name; the suppression hash stays.
func TestForgetErasesEverywhere(t *testing.T) {
	t.Parallel()
	s, db := newTestStore(t)
	ctx := context.Background()
	const email = "Forget.Me@Example.jp"
	importString(t, s, "email,family_name,given_name,family_name_kana,given_name_kana,employee_id,department,joined_on,left_on,tags,consent,consent_source\n"+
		email+",忘却,花子,ボウキャク,ハナコ,EMP-771,秘密部,2001/4/1,2020/3/31,boomerang,yes,忘却花子の退職面談\n"+
		"keep@example.jp,残留,太郎,,,,,,,,,\n", ImportOptions{})
	a := mustFind(t, s, email)
	insertDelivery(t, db, a.ID, "newsletter-1", strings.ToLower(email))

	if out, err := s.Forget(ctx, email); err != nil || out != Changed {
		t.Fatalf("forget: %v %v", out, err)
	}
	for _, needle := range []string{"forget.me", "忘却", "花子", "ボウキャク", "EMP-771", "秘密部", "192.0.2.7"} {
		if hits := scanDatabase(t, db, needle); len(hits) > 0 {
			t.Errorf("%q still stored in %v", needle, hits)
		}
	}
	var reason string
	if err := db.Get(&reason, `SELECT reason FROM suppressions WHERE email_hash = $1`, store.HashEmail(email)); err != nil || reason != "forgotten" {
		t.Errorf("suppression = %q %v", reason, err)
	}
	var status string
	var tags []byte
	db.QueryRow(`SELECT status, tags::text FROM alumni WHERE id = $1`, a.ID).Scan(&status, &tags)
	if status != "forgotten" || string(tags) != "{}" {
		t.Errorf("alumni row: %s %s", status, tags)
	}
	if keep := mustFind(t, s, "keep@example.jp"); keep.FamilyName != "残留" {
		t.Errorf("another person was touched: %+v", keep)
	}
	// Idempotent, and an unknown address is still suppressed.
	if out, err := s.Forget(ctx, email); err != nil || out != SuppressedNew {
		t.Errorf("second forget: %v %v", out, err)
	}
	if out, err := s.Forget(ctx, "stranger@example.com"); err != nil || out != SuppressedNew {
		t.Errorf("forget of an unknown address: %v %v", out, err)
	}
	if err := db.Get(&reason, `SELECT reason FROM suppressions WHERE email_hash = $1`, store.HashEmail("stranger@example.com")); err != nil || reason != "forgotten" {
		t.Errorf("unknown address suppression = %q %v", reason, err)
	}
}

// scanDatabase returns the table.column of every text-like column of every
// table in the public schema that contains needle (case-insensitive).
func scanDatabase(t *testing.T, db *testdb.DB, needle string) []string {
	t.Helper()
	type col struct{ Table, Column string }
	var cols []col
	err := db.Select(&cols, `SELECT c.table_name AS table, c.column_name AS column
		FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name)
		WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
		  AND c.data_type IN ('text', 'character varying', 'character', 'jsonb', 'json', 'ARRAY', 'inet', 'USER-DEFINED')`)
	if err != nil {
		t.Fatal(err)
	}
	if len(cols) < 10 {
		t.Fatalf("only %d text columns found: the scan is not looking", len(cols))
	}
	var hits []string
	for _, c := range cols {
		var n int
		q := fmt.Sprintf(`SELECT count(*) FROM %q WHERE strpos(lower(%q::text), lower($1)) > 0`, c.Table, c.Column)
		if err := db.Get(&n, q, needle); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if n > 0 {
			hits = append(hits, c.Table+"."+c.Column)
		}
	}
	return hits
}
