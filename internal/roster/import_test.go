package roster

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/internal/store"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
)

// fixedNow is the clock of the store tests.
var fixedNow = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func newTestStore(t *testing.T) (*Store, *testdb.DB) {
	t.Helper()
	db := testdb.New(t)
	return NewStore(db.DB, func() time.Time { return fixedNow }), db
}

func importString(t *testing.T, s *Store, csv string, opts ImportOptions) ImportResult {
	t.Helper()
	if opts.FileName == "" {
		opts.FileName = "roster.csv"
	}
	res, err := s.Import(context.Background(), strings.NewReader(csv), opts)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	return res
}

func mustFind(t *testing.T, s *Store, email string) Alumnus {
	t.Helper()
	a, err := s.Find(context.Background(), email)
	if err != nil {
		t.Fatalf("find %s: %v", email, err)
	}
	return a
}

func counts(r ImportResult) [4]int {
	return [4]int{r.Imported, r.Updated, r.Unchanged, len(r.Rejected)}
}

func TestImportInsertUpdateUnchanged(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	const first = "email,name,locale,department,tags,joined_on,employee_id\n" +
		"Taro@Example.jp,山田 太郎,,開発部,engineering;boomerang,2001/4/1,E1\n" +
		"john@example.com,John Smith,en,Sales,,,\n"
	if got := counts(importString(t, s, first, ImportOptions{})); got != [4]int{2, 0, 0, 0} {
		t.Fatalf("first import counts %v", got)
	}
	taro := mustFind(t, s, "TARO@example.jp")
	if taro.Email != "taro@example.jp" || taro.FamilyName != "山田" || taro.GivenName != "太郎" || taro.Department != "開発部" ||
		strings.Join(taro.Tags, ";") != "engineering;boomerang" || taro.JoinedOn.Format(time.DateOnly) != "2001-04-01" ||
		taro.EmployeeID != "E1" || taro.Locale != "ja" || taro.Timezone != "Asia/Tokyo" || taro.Status != "active" || taro.Consent {
		t.Errorf("taro = %+v", taro)
	}
	if john := mustFind(t, s, "john@example.com"); john.GivenName != "John" || john.FamilyName != "Smith" || john.Locale != "en" {
		t.Errorf("john = %+v", john)
	}
	// The same file again changes nothing.
	if got := counts(importString(t, s, first, ImportOptions{})); got != [4]int{0, 0, 2, 0} {
		t.Fatalf("re-import counts %v", got)
	}
	if again := mustFind(t, s, "taro@example.jp"); !again.UpdatedAt.Equal(taro.UpdatedAt) {
		t.Errorf("an unchanged row was rewritten")
	}
	// Empty cells keep stored values; a filled one changes; a new person.
	const second = "email,family_name,given_name,locale,department,tags,joined_on,employee_id\n" +
		"taro@example.jp,,,,営業部,,,\n" +
		"new@example.jp,新井,,,,,,\n"
	if got := counts(importString(t, s, second, ImportOptions{})); got != [4]int{1, 1, 0, 0} {
		t.Fatalf("third import counts %v", got)
	}
	taro = mustFind(t, s, "taro@example.jp")
	if taro.Department != "営業部" || taro.FamilyName != "山田" || taro.GivenName != "太郎" || len(taro.Tags) != 2 ||
		taro.JoinedOn == nil || taro.EmployeeID != "E1" {
		t.Errorf("after partial update taro = %+v", taro)
	}
}

func TestImportConsentRecord(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	const csv = "email,consent,consented_at,consent_source\n" +
		"a@example.com,yes,,\n" +
		"b@example.com,はい,2025/4/1,退職時アンケート\n" +
		"c@example.com,いいえ,,\n"
	importString(t, s, csv, ImportOptions{FileName: "hr-2026.csv"})
	a := mustFind(t, s, "a@example.com")
	if !a.Consent || a.ConsentedAt == nil || !a.ConsentedAt.Equal(fixedNow) || a.ConsentSource != "import:hr-2026.csv" {
		t.Errorf("a = consent %v at %v source %q", a.Consent, a.ConsentedAt, a.ConsentSource)
	}
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	b := mustFind(t, s, "b@example.com")
	if !b.Consent || !b.ConsentedAt.Equal(time.Date(2025, 4, 1, 0, 0, 0, 0, tokyo)) || b.ConsentSource != "退職時アンケート" {
		t.Errorf("b = consent %v at %v source %q", b.Consent, b.ConsentedAt, b.ConsentSource)
	}
	if c := mustFind(t, s, "c@example.com"); c.Consent || c.ConsentedAt != nil || c.ConsentSource != "" {
		t.Errorf("c = %+v", c)
	}
	// A later import with consent yes and no date keeps the recorded time
	// and source: the consent was given once.
	later := NewStore(s.db, func() time.Time { return fixedNow.Add(48 * time.Hour) })
	res, err := later.Import(context.Background(), strings.NewReader("email,consent\na@example.com,yes\n"), ImportOptions{FileName: "other.csv"})
	if err != nil || counts(res) != [4]int{0, 0, 1, 0} {
		t.Fatalf("re-import: %v %v", counts(res), err)
	}
	if a := mustFind(t, s, "a@example.com"); !a.ConsentedAt.Equal(fixedNow) || a.ConsentSource != "import:hr-2026.csv" {
		t.Errorf("consent record moved: %v %q", a.ConsentedAt, a.ConsentSource)
	}
}

func TestImportRejectsDuplicatesInFile(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	const csv = "email,family_name,employee_id\n" +
		"a@example.com,First,E1\n" + // line 2
		"A@Example.com,Second,E2\n" + // line 3: same email
		"b@example.com,B,E1\n" + // line 4: same employee id
		"c@example.com,C,E3\n" // line 5
	res := importString(t, s, csv, ImportOptions{})
	if counts(res) != [4]int{2, 0, 0, 2} {
		t.Fatalf("counts %v (%+v)", counts(res), res.Rejected)
	}
	if r := res.Rejected[0]; r.Line != 3 || r.Email != "A@Example.com" || !strings.Contains(r.Reason, "duplicate email: first used on line 2") {
		t.Errorf("rejection 1 = %+v", r)
	}
	if r := res.Rejected[1]; r.Line != 4 || !strings.Contains(r.Reason, "duplicate employee_id E1: first used on line 2") {
		t.Errorf("rejection 2 = %+v", r)
	}
	if a := mustFind(t, s, "a@example.com"); a.FamilyName != "First" {
		t.Errorf("the first row did not win: %q", a.FamilyName)
	}
}

func TestImportEmployeeIDOfAnotherPerson(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	importString(t, s, "email,employee_id\na@example.com,E1\n", ImportOptions{})
	res := importString(t, s, "email,employee_id\nb@example.com,E1\nc@example.com,E2\na@example.com,E1\n", ImportOptions{})
	if counts(res) != [4]int{1, 0, 1, 1} || res.Rejected[0].Line != 2 || !strings.Contains(res.Rejected[0].Reason, "already belongs to another alumnus") {
		t.Fatalf("counts %v rejected %+v", counts(res), res.Rejected)
	}
}

func TestImportNeverReactivates(t *testing.T) {
	t.Parallel()
	s, db := newTestStore(t)
	ctx := context.Background()
	importString(t, s, "email,department\nu@example.com,A\nb@example.com,A\n", ImportOptions{})
	if _, err := s.Unsubscribe(ctx, "u@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE alumni SET status = 'bounced' WHERE email = 'b@example.com'`); err != nil {
		t.Fatal(err)
	}
	res := importString(t, s, "email,department,consent\nu@example.com,B,yes\nb@example.com,B,yes\n", ImportOptions{})
	if counts(res) != [4]int{0, 2, 0, 0} {
		t.Fatalf("counts %v", counts(res))
	}
	for email, want := range map[string]string{"u@example.com": "unsubscribed", "b@example.com": "bounced"} {
		if a := mustFind(t, s, email); a.Status != want || a.Department != "B" {
			t.Errorf("%s: status %s department %s, want %s and B", email, a.Status, a.Department, want)
		}
	}
}

func TestImportSuppressedAddresses(t *testing.T) {
	t.Parallel()
	s, db := newTestStore(t)
	ctx := context.Background()
	importString(t, s, "email,family_name\ngone@example.com,消\n", ImportOptions{})
	if _, err := s.Forget(ctx, "gone@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Unsubscribe(ctx, "unsub@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unsubscribe of an unknown address: %v", err)
	}
	if _, err := db.Exec(`INSERT INTO suppressions (email_hash, reason) VALUES ($1, 'bounced')`, store.HashEmail("bounce@example.com")); err != nil {
		t.Fatal(err)
	}
	res := importString(t, s, "email,family_name\nGone@Example.com,again\nunsub@example.com,U\nbounce@example.com,B\nfresh@example.com,F\n", ImportOptions{})
	if counts(res) != [4]int{3, 0, 0, 1} {
		t.Fatalf("counts %v %+v", counts(res), res.Rejected)
	}
	if r := res.Rejected[0]; r.Line != 2 || r.Email != "Gone@Example.com" || r.Reason != "the address was erased at the person's request" {
		t.Errorf("rejection = %+v", r)
	}
	if _, err := s.Find(ctx, "gone@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a forgotten address was stored again: %v", err)
	}
	for email, want := range map[string]string{"unsub@example.com": "unsubscribed", "bounce@example.com": "bounced", "fresh@example.com": "active"} {
		if a := mustFind(t, s, email); a.Status != want {
			t.Errorf("%s: status %s, want %s", email, a.Status, want)
		}
	}
}

func TestImportDryRunWritesNothing(t *testing.T) {
	t.Parallel()
	s, db := newTestStore(t)
	importString(t, s, "email,department\nold@example.com,A\n", ImportOptions{})
	res := importString(t, s, "email,department\nold@example.com,B\nnew@example.com,N\nbad,x\n", ImportOptions{DryRun: true})
	if counts(res) != [4]int{1, 1, 0, 1} {
		t.Fatalf("dry-run counts %v", counts(res))
	}
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM alumni`); err != nil || n != 1 {
		t.Fatalf("alumni rows after dry run: %d %v", n, err)
	}
	if a := mustFind(t, s, "old@example.com"); a.Department != "A" {
		t.Errorf("dry run changed department to %q", a.Department)
	}
}

// Good rows are imported even when others are rejected, and the rejections
// come back in line order whatever side found them.
func TestImportMixedRejections(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	csv := "email,family_name,joined_on\n" +
		"a@example.com,A,\n" +
		"a@example.com,dup,\n" +
		"b@example.com,B,2020-13-45\n" +
		"\"c@example.com\",\"<script>alert('x')</script>\",\n" +
		"d@example.com," + strings.Repeat("x", 10<<20) + ",\n"
	res := importString(t, s, csv, ImportOptions{})
	if counts(res) != [4]int{2, 0, 0, 3} {
		t.Fatalf("counts %v %+v", counts(res), res.Rejected)
	}
	var lines []int
	for _, r := range res.Rejected {
		lines = append(lines, r.Line)
	}
	if lines[0] != 3 || lines[1] != 4 || lines[2] != 6 {
		t.Errorf("rejected lines %v, want [3 4 6]", lines)
	}
	if c := mustFind(t, s, "c@example.com"); c.FamilyName != "<script>alert('x')</script>" {
		t.Errorf("name not stored verbatim: %q", c.FamilyName)
	}
}

func TestImportNotRoster(t *testing.T) {
	t.Parallel()
	s, db := newTestStore(t)
	_, err := s.Import(context.Background(), strings.NewReader("\x00\x01binary"), ImportOptions{})
	if !errors.Is(err, ErrNotRoster) {
		t.Fatalf("err = %v", err)
	}
	var n int
	db.Get(&n, `SELECT count(*) FROM alumni`)
	if n != 0 {
		t.Errorf("%d rows stored", n)
	}
}

// The legacy docomo/au addresses go into Postgres as written (unquoted,
// lower-cased); the quoted form of the same address is the same person, in
// a later import, in the same file, and for the per-person operations.
func TestImportLegacyCarrierAddresses(t *testing.T) {
	t.Parallel()
	s, db := newTestStore(t)
	res := importString(t, s, "email,name\n"+
		"Taro..Yamada@docomo.ne.jp,山田 太郎\n"+
		"hanako.@ezweb.ne.jp,佐藤 花子\n"+
		`""".ichiro""@ezweb.ne.jp",鈴木 一郎`+"\n"+ // CSV-quoted, as Excel writes "..."@
		`"""taro..yamada""@docomo.ne.jp",山田 太郎`+"\n"+ // the first row's person again
		"taro@@docomo.ne.jp,x\n", ImportOptions{})
	if counts(res) != [4]int{3, 0, 0, 2} {
		t.Fatalf("counts %v, rejected %+v", counts(res), res.Rejected)
	}
	if r := res.Rejected[0]; r.Line != 5 || r.Email != `"taro..yamada"@docomo.ne.jp` || !strings.Contains(r.Reason, "duplicate email: first used on line 2") {
		t.Errorf("rejected[0] = %+v", r)
	}
	if r := res.Rejected[1]; r.Line != 6 || !strings.Contains(r.Reason, "two @") {
		t.Errorf("rejected[1] = %+v", r)
	}
	var stored []string
	if err := db.Select(&stored, `SELECT email FROM alumni ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	if want := []string{"taro..yamada@docomo.ne.jp", "hanako.@ezweb.ne.jp", ".ichiro@ezweb.ne.jp"}; !reflect.DeepEqual(stored, want) {
		t.Errorf("stored %q, want %q", stored, want)
	}

	res = importString(t, s, "email,name\n"+`"""hanako.""@ezweb.ne.jp",佐藤 花子`+"\nTARO..yamada@DOCOMO.ne.jp,山田 太郎\n", ImportOptions{})
	if counts(res) != [4]int{0, 0, 2, 0} {
		t.Errorf("quoted re-import: counts %v %+v", counts(res), res.Rejected)
	}
	if a := mustFind(t, s, ` "Taro..Yamada"@docomo.ne.jp `); a.Email != "taro..yamada@docomo.ne.jp" {
		t.Errorf("find by the quoted form: %+v", a)
	}
	if out, err := s.Unsubscribe(context.Background(), `"hanako."@ezweb.ne.jp`); err != nil || out != Changed {
		t.Errorf("unsubscribe by the quoted form: %v %v", out, err)
	}
	if out, err := s.Forget(context.Background(), `".ichiro"@ezweb.ne.jp`); err != nil || out != Changed {
		t.Errorf("forget by the quoted form: %v %v", out, err)
	}
	// The erased address cannot come back in either form.
	res = importString(t, s, "email\n.ichiro@ezweb.ne.jp\n", ImportOptions{})
	if counts(res) != [4]int{0, 0, 0, 1} || res.Rejected[0].Reason != reasonForgotten {
		t.Errorf("re-import of a forgotten legacy address: %v %+v", counts(res), res.Rejected)
	}
}
