package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
)

// jst is the +09:00 offset the test event is written in.
var jst = time.FixedZone("", 9*3600)

// answeredAt is when the test answers were given, minute m.
func answeredAt(m int) time.Time {
	return time.Date(2026, 11, 2, 1, 0, 0, 0, time.UTC).Add(time.Duration(m) * time.Minute)
}

// attendeesEnv is a fresh database with an event (capacity 2) answered by
// two guests, one person on the waiting list, one maybe and one no (with a
// name holding a comma and quotes, and a department Excel would take for a
// formula); an event without answers; and a newsletter.
func attendeesEnv(t *testing.T) (*testdb.DB, map[string]string) {
	t.Helper()
	db := testdb.New(t)
	ctx := context.Background()
	starts := time.Date(2026, 12, 18, 19, 0, 0, 0, jst)
	event := &campaigns.Campaign{ID: "party", Kind: campaigns.KindEvent, Digest: "e1",
		Event: &campaigns.Event{Title: "年末アルムナイ交流会", StartsAt: starts, EndsAt: starts.Add(2 * time.Hour), Capacity: 2}}
	empty := &campaigns.Campaign{ID: "quiet", Kind: campaigns.KindEvent, Digest: "e2",
		Event: &campaigns.Event{Title: "勉強会", StartsAt: starts}}
	news := &campaigns.Campaign{ID: "news", Kind: campaigns.KindNewsletter, Digest: "n1"}
	for _, c := range []*campaigns.Campaign{event, empty, news} {
		if _, err := runs.RegisterVersion(ctx, db.DB, c); err != nil {
			t.Fatal(err)
		}
	}
	people := []struct {
		a          testdb.Alumnus
		kana       [2]string
		answer     string
		waitlisted bool
		at         int
	}{
		{testdb.Alumnus{Email: "suzuki@example.jp", FamilyName: "鈴木", GivenName: "一郎", Department: "営業部"}, [2]string{"スズキ", "イチロウ"}, "yes", false, 5},
		{testdb.Alumnus{Email: "ando@example.jp", FamilyName: "安藤", GivenName: "花子", Department: "人事本部 採用グループ"}, [2]string{"アンドウ", "ハナコ"}, "yes", false, 9},
		{testdb.Alumnus{Email: "smith@example.jp", FamilyName: `Smith, "Jr"`, GivenName: "Anna", Department: "=HYPERLINK(\"x\")"}, [2]string{"", ""}, "yes", true, 12},
		{testdb.Alumnus{Email: "ito@example.jp", FamilyName: "伊藤", GivenName: "ｹﾝ", Department: "IT"}, [2]string{"イトウ", "ｹﾝ"}, "maybe", false, 2},
		{testdb.Alumnus{Email: "nakamura@example.jp", FamilyName: "中村", GivenName: "誠"}, [2]string{"ナカムラ", "マコト"}, "no", false, 7},
	}
	for _, p := range people {
		p.a.Consent = true
		id := testdb.Alumni(t, db, p.a)[0]
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`UPDATE alumni SET family_name_kana = $2, given_name_kana = $3 WHERE id = $1`, []any{id, p.kana[0], p.kana[1]}},
			{`INSERT INTO rsvps (campaign_id, alumni_id, answer, waitlisted, answered_at) VALUES ('party', $1, $2, $3, $4)`,
				[]any{id, p.answer, p.waitlisted, answeredAt(p.at)}},
		} {
			if _, err := db.Exec(q.sql, q.args...); err != nil {
				t.Fatalf("%s: %v", q.sql, err)
			}
		}
	}
	return db, map[string]string{"KIZUNA_DATABASE_URL": db.URL, "KIZUNA_SECRET": testSecret}
}

// testWidth is the terminal width of s by a rule of its own (not
// displayWidth's): the CJK and fullwidth blocks the test data uses take
// two columns, everything else (half-width katakana included) one.
func testWidth(s string) int {
	n := 0
	for _, r := range s {
		if (r >= 0x3000 && r <= 0x9FFF) || (r >= 0xFF01 && r <= 0xFF60) {
			n += 2
		} else {
			n++
		}
	}
	return n
}

func TestCampaignAttendeesTable(t *testing.T) {
	t.Parallel()
	_, env := attendeesEnv(t)
	code, out, errOut := runApp(t, env, "campaign", "attendees", "party")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"年末アルムナイ交流会 (party)  2026-12-18 19:00 +09:00",
		"出席 2 / キャンセル待ち 1 / 未定 1 / 欠席 1（定員 2）"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// The rows in order, each with its answer; every address starts in
	// the same terminal column, and the answer times are in +09:00.
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	var rows []string
	for _, l := range lines {
		if strings.Contains(l, "@example.jp") || strings.HasPrefix(l, "回答") {
			rows = append(rows, l)
		}
	}
	order := []string{"メール", "ando@", "suzuki@", "smith@", "ito@", "nakamura@"}
	labels := []string{"回答", "出席", "出席", "キャンセル待ち 1", "未定", "欠席"}
	if len(rows) != len(order) {
		t.Fatalf("%d rows, want %d:\n%s", len(rows), len(order), out)
	}
	col := -1
	for i, r := range rows {
		at := strings.Index(r, order[i])
		if at < 0 || !strings.HasPrefix(r, labels[i]+" ") {
			t.Errorf("row %d = %q; want %s first, then %s", i, r, labels[i], order[i])
			continue
		}
		if c := testWidth(r[:at]); col == -1 {
			col = c
		} else if c != col {
			t.Errorf("row %d: the address starts at column %d, the header's at %d:\n%s", i, c, col, out)
		}
	}
	if !strings.Contains(rows[2], "2026-11-02 10:05") || !strings.Contains(rows[2], "営業部") || !strings.Contains(rows[2], "スズキ イチロウ") {
		t.Errorf("suzuki's row %q lacks the kana, the department or the answer time in +09:00", rows[2])
	}

	// An event without answers says so, with zeros and no capacity.
	code, out, _ = runApp(t, env, "campaign", "attendees", "quiet")
	if code != 0 || !strings.Contains(out, "出席 0 / キャンセル待ち 0 / 未定 0 / 欠席 0\n") || !strings.Contains(out, "まだ回答はありません") {
		t.Errorf("empty event: exit %d\n%s", code, out)
	}
}

func TestCampaignAttendeesCSV(t *testing.T) {
	t.Parallel()
	_, env := attendeesEnv(t)
	code, out, errOut := runApp(t, env, "campaign", "attendees", "party", "--csv")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	b := []byte(out)
	if !bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}) {
		t.Fatalf("CSV does not start with the UTF-8 BOM: % x", b[:min(8, len(b))])
	}
	if !bytes.HasSuffix(b, []byte("\r\n")) || bytes.Count(b, []byte("\n")) != bytes.Count(b, []byte("\r\n")) {
		t.Errorf("not every line ends in CRLF: %q", out)
	}
	recs, err := csv.NewReader(bytes.NewReader(b[3:])).ReadAll()
	if err != nil {
		t.Fatalf("encoding/csv cannot read it back: %v\n%s", err, out)
	}
	if got := strings.Join(recs[0], ","); got != "family_name,given_name,family_name_kana,given_name_kana,department,email,answer,answered_at,waitlist_position" {
		t.Errorf("header = %s", got)
	}
	if len(recs) != 6 {
		t.Fatalf("%d records, want the header and 5", len(recs))
	}
	byEmail := map[string][]string{}
	for _, r := range recs[1:] {
		if len(r) != 9 {
			t.Fatalf("record %q has %d fields", r, len(r))
		}
		byEmail[r[5]] = r
	}
	smith := byEmail["smith@example.jp"]
	if smith[0] != `Smith, "Jr"` || smith[1] != "Anna" || smith[6] != "yes" || smith[8] != "1" {
		t.Errorf("smith = %q; want the name with its comma and quotes back, yes, position 1", smith)
	}
	if smith[4] != `'=HYPERLINK("x")` {
		t.Errorf("a department Excel would run as a formula is written %q", smith[4])
	}
	suzuki := byEmail["suzuki@example.jp"]
	if suzuki[0] != "鈴木" || suzuki[2] != "スズキ" || suzuki[3] != "イチロウ" || suzuki[4] != "営業部" || suzuki[6] != "yes" || suzuki[8] != "" {
		t.Errorf("suzuki = %q", suzuki)
	}
	if suzuki[7] != "2026-11-02T10:05:00+09:00" {
		t.Errorf("answered_at = %q, want RFC 3339 in the event's +09:00", suzuki[7])
	}
	if ito := byEmail["ito@example.jp"]; ito[3] != "ｹﾝ" || ito[6] != "maybe" {
		t.Errorf("ito = %q", ito)
	}
	if recs[1][5] != "ando@example.jp" || recs[5][5] != "nakamura@example.jp" {
		t.Errorf("CSV order differs from the table's: first %s, last %s", recs[1][5], recs[5][5])
	}
}

func TestCampaignAttendeesJSON(t *testing.T) {
	t.Parallel()
	_, env := attendeesEnv(t)
	code, out, errOut := runApp(t, env, "campaign", "attendees", "party", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var doc []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc) != 5 {
		t.Fatalf("not one JSON array of 5: %v\n%s", err, out)
	}
	keys := []string{"family_name", "given_name", "family_name_kana", "given_name_kana", "department", "email", "answer", "answered_at", "waitlist_position"}
	for _, o := range doc {
		if len(o) != len(keys) {
			t.Errorf("object has %d keys, want %d: %v", len(o), len(keys), o)
		}
		for _, k := range keys {
			if _, ok := o[k]; !ok {
				t.Errorf("object lacks %q: %v", k, o)
			}
		}
	}
	var smith, suzuki map[string]json.RawMessage
	for _, o := range doc {
		switch string(o["email"]) {
		case `"smith@example.jp"`:
			smith = o
		case `"suzuki@example.jp"`:
			suzuki = o
		}
	}
	if string(smith["waitlist_position"]) != "1" || string(smith["answer"]) != `"yes"` || string(smith["family_name"]) != `"Smith, \"Jr\""` {
		t.Errorf("smith = %s %s %s", smith["family_name"], smith["answer"], smith["waitlist_position"])
	}
	if string(suzuki["waitlist_position"]) != "null" || string(suzuki["answered_at"]) != `"2026-11-02T01:05:00Z"` {
		t.Errorf("suzuki: waitlist_position %s, answered_at %s; want null and RFC 3339 UTC", suzuki["waitlist_position"], suzuki["answered_at"])
	}
	if code, out, _ := runApp(t, env, "campaign", "attendees", "quiet", "--json"); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("an event without answers: exit %d, %q; want []", code, out)
	}
}

func TestCampaignAttendeesBadUsage(t *testing.T) {
	t.Parallel()
	_, env := attendeesEnv(t)
	code, out, errOut := runApp(t, env, "campaign", "attendees", "nope")
	if code != 2 || !strings.Contains(errOut, `unknown campaign "nope"`) || out != "" {
		t.Errorf("unknown campaign: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, _ = runApp(t, env, "campaign", "attendees", "nope", "--json")
	var e map[string]string
	if code != 2 || json.Unmarshal([]byte(out), &e) != nil || !strings.Contains(e["error"], "nope") {
		t.Errorf("unknown campaign --json: exit %d, %s", code, out)
	}
	for _, flags := range [][]string{nil, {"--csv"}} {
		args := append([]string{"campaign", "attendees", "news"}, flags...)
		code, out, errOut = runApp(t, env, args...)
		if code != 2 || !strings.Contains(errOut, "campaign news is not an event") || out != "" {
			t.Errorf("newsletter %v: exit %d, stdout %q, stderr %q", flags, code, out, errOut)
		}
	}
	if code, _, errOut := runApp(t, env, "campaign", "attendees", "party", "--csv", "--json"); code != 2 || !strings.Contains(errOut, "--csv and --json") {
		t.Errorf("--csv --json: exit %d, %s", code, errOut)
	}
}

func TestDisplayWidth(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]int{
		"abc": 3, "山田": 4, "ヤマダ": 6, "ﾔﾏﾀﾞ": 4, "Ａ": 2, "　": 2, "\u00e9": 1, "e\u0301": 1, "キャンセル待ち 1": 16, "": 0,
	} {
		if got := displayWidth(s); got != want {
			t.Errorf("displayWidth(%q) = %d, want %d", s, got, want)
		}
	}
}
