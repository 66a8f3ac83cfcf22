package runs

import (
	"context"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/store"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
)

// seedRoster inserts a small roster covering every filter and exclusion,
// returning the id of each alumnus by a short name.
func seedRoster(t *testing.T, db *testdb.DB) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	type row struct {
		name, email, locale, dept, status string
		tags                              []string
		consent, consentedAt              bool
		joined, left                      string
	}
	rows := []row{
		{"eng-ja", "eng-ja@example.jp", "ja", "開発部", "active", []string{"engineering"}, true, true, "2012-04-01", "2020-03-31"},
		{"sales-en", "sales-en@example.com", "en", "営業部", "active", []string{"sales", "boomerang"}, true, true, "2015-10-01", "2022-06-30"},
		{"no-consent-date", "nodate@example.jp", "ja", "開発部", "active", []string{"engineering"}, true, false, "", ""},
		{"no-consent", "noconsent@example.jp", "ja", "総務部", "active", nil, false, false, "", ""},
		{"unsubscribed", "unsub@example.jp", "ja", "開発部", "unsubscribed", []string{"engineering"}, true, true, "2012-04-01", "2020-03-31"},
		{"bounced", "bounced@example.jp", "ja", "開発部", "bounced", []string{"engineering"}, true, true, "2012-04-01", "2020-03-31"},
		{"forgotten", "", "ja", "開発部", "forgotten", []string{"engineering"}, true, true, "2012-04-01", "2020-03-31"},
		{"dnc", "dnc@example.jp", "ja", "開発部", "active", []string{"engineering", "do-not-contact"}, true, true, "2014-04-01", "2021-12-31"},
		{"suppressed", "suppressed@example.com", "en", "開発部", "active", []string{"engineering"}, true, true, "2012-04-01", "2020-03-31"},
		{"plain", "plain@example.jp", "ja", "開発部", "active", nil, true, true, "", ""},
	}
	ids := map[string]int64{}
	for _, r := range rows {
		a := testdb.Alumnus{Email: r.email, FamilyName: "山田", GivenName: "太郎", Department: r.dept, JoinedOn: r.joined, LeftOn: r.left,
			Locale: r.locale, Tags: r.tags, Consent: r.consent, NoConsentDate: !r.consentedAt, Status: r.status}
		if r.consentedAt {
			a.ConsentedAt = time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC)
		}
		ids[r.name] = testdb.Alumni(t, db, a)[0]
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO suppressions (email_hash, reason) VALUES ($1, 'unsubscribed')`, store.HashEmail("Suppressed@Example.com")); err != nil {
		t.Fatal(err)
	}
	return ids
}

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestAudienceSelectsExactly(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	ids := seedRoster(t, db)
	cases := []struct {
		name string
		aud  campaigns.Audience
		want []string
	}{
		{"defaults: consent required, both locales, exclusions", campaigns.Audience{}, []string{"eng-ja", "sales-en", "dnc", "plain"}},
		{"consent any", campaigns.Audience{Consent: campaigns.ConsentAny}, []string{"eng-ja", "sales-en", "no-consent-date", "no-consent", "dnc", "plain"}},
		{"tags_any", campaigns.Audience{TagsAny: []string{"engineering"}}, []string{"eng-ja", "dnc"}},
		{"tags_any and tags_none", campaigns.Audience{TagsAny: []string{"engineering", "boomerang"}, TagsNone: []string{"do-not-contact"}}, []string{"eng-ja", "sales-en"}},
		{"departments", campaigns.Audience{Departments: []string{"開発部"}}, []string{"eng-ja", "dnc", "plain"}},
		{"left_between", campaigns.Audience{LeftBetween: &campaigns.DateRange{From: day("2020-01-01"), To: day("2020-12-31")}}, []string{"eng-ja"}},
		{"left_between inclusive", campaigns.Audience{LeftBetween: &campaigns.DateRange{From: day("2022-06-30"), To: day("2022-06-30")}}, []string{"sales-en"}},
		{"joined_between", campaigns.Audience{JoinedBetween: &campaigns.DateRange{From: day("2010-01-01"), To: day("2014-12-31")}}, []string{"eng-ja", "dnc"}},
		{"locales", campaigns.Audience{Locales: []string{"en"}}, []string{"sales-en"}},
		{"all AND-ed", campaigns.Audience{Locales: []string{"ja"}, TagsAny: []string{"engineering"}, Departments: []string{"開発部"}, LeftBetween: &campaigns.DateRange{From: day("2019-01-01"), To: day("2021-12-31")}}, []string{"eng-ja", "dnc"}},
		{"nobody", campaigns.Audience{Departments: []string{"存在しない部"}}, nil},
	}
	for _, tc := range cases {
		where, args := AudienceFilter(tc.aud, 1)
		var got []int64
		if err := db.SelectContext(context.Background(), &got, "SELECT a.id FROM alumni a WHERE "+where+" ORDER BY a.id", args...); err != nil {
			t.Fatalf("%s: %v\n%s", tc.name, err, where)
		}
		var want []int64
		for _, n := range tc.want {
			want = append(want, ids[n])
		}
		slices.Sort(want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: selected %v, want %v (%v)", tc.name, got, want, tc.want)
		}
		n, err := Reach(context.Background(), db.DB, &campaigns.Campaign{ID: "x", Audience: tc.aud})
		if err != nil || n != len(want) {
			t.Errorf("%s: reach %d, %v; want %d", tc.name, n, err, len(want))
		}
	}
}

// Placeholders start at first, so the filter can follow other arguments.
func TestAudienceFilterNumbersFromFirst(t *testing.T) {
	t.Parallel()
	aud := campaigns.Audience{TagsAny: []string{"a"}, TagsNone: []string{"b"}, Departments: []string{"c"}, LeftBetween: &campaigns.DateRange{From: day("2020-01-01"), To: day("2020-12-31")}}
	where, args := AudienceFilter(aud, 4)
	found := regexp.MustCompile(`\$\d+`).FindAllString(where, -1)
	var want []string
	for i := range args {
		want = append(want, fmt.Sprintf("$%d", 4+i))
	}
	if !reflect.DeepEqual(found, want) {
		t.Errorf("placeholders %v, want %v", found, want)
	}
}

// Strings from a campaign file only ever travel as arguments: the SQL text
// holds none of them, and the query runs harmlessly.
func TestHostileStringsStayArguments(t *testing.T) {
	t.Parallel()
	hostile := []string{"'; DROP TABLE alumni; --", `") OR 1=1 --`, "$$; DELETE FROM alumni; $$", "開発部' OR 'a'='a"}
	aud := campaigns.Audience{TagsAny: hostile, TagsNone: hostile, Departments: hostile}
	where, args := AudienceFilter(aud, 1)
	for _, h := range hostile {
		if strings.Contains(where, h) {
			t.Errorf("SQL text holds %q:\n%s", h, where)
		}
	}
	for _, frag := range []string{"DROP", "OR 1=1", "開発部"} {
		if strings.Contains(where, frag) {
			t.Errorf("SQL text holds %q", frag)
		}
	}
	var inArgs int
	for _, a := range args {
		if arr, ok := a.(pq.StringArray); ok && reflect.DeepEqual([]string(arr), hostile) {
			inArgs++
		}
	}
	if inArgs != 3 {
		t.Errorf("hostile lists found in %d args, want 3: %#v", inArgs, args)
	}

	db := testdb.New(t)
	seedRoster(t, db)
	n, err := Reach(context.Background(), db.DB, &campaigns.Campaign{ID: "c", Audience: aud})
	if err != nil || n != 0 {
		t.Fatalf("reach %d, %v", n, err)
	}
	var total int
	if err := db.GetContext(context.Background(), &total, "SELECT count(*) FROM alumni"); err != nil || total != 10 {
		t.Fatalf("alumni after the hostile query: %d, %v", total, err)
	}
}

// Excluded agrees with AudienceFilter person by person: no reasons exactly for
// those the audience selects, and each reason names the condition.
func TestExcludedAgreesWithAudienceFilter(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	seedRoster(t, db)
	ctx := context.Background()
	auds := []campaigns.Audience{
		{}, {Consent: campaigns.ConsentAny}, {TagsAny: []string{"engineering"}}, {TagsNone: []string{"do-not-contact"}},
		{Departments: []string{"開発部"}}, {LeftBetween: &campaigns.DateRange{From: day("2020-01-01"), To: day("2020-12-31")}},
		{JoinedBetween: &campaigns.DateRange{From: day("2010-01-01"), To: day("2014-12-31")}}, {Locales: []string{"en"}},
	}
	var emails []string
	if err := db.SelectContext(ctx, &emails, `SELECT email FROM alumni WHERE email IS NOT NULL ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	for _, aud := range auds {
		where, args := AudienceFilter(aud, 2)
		for _, e := range emails {
			var in bool
			if err := db.GetContext(ctx, &in, "SELECT EXISTS (SELECT 1 FROM alumni a WHERE a.email = $1 AND "+where+")", append([]any{e}, args...)...); err != nil {
				t.Fatal(err)
			}
			reasons, found, err := Excluded(ctx, db.DB, aud, e)
			if err != nil || !found {
				t.Fatalf("%+v %s: found %v, %v", aud, e, found, err)
			}
			if in != (len(reasons) == 0) {
				t.Errorf("audience %+v, %s: selected %v but reasons %q", aud, e, in, reasons)
			}
		}
	}
	want := map[string]string{
		"unsub@example.jp":       "they are unsubscribed",
		"suppressed@example.com": "suppression list",
		"nodate@example.jp":      "no consent on record",
		"dnc@example.jp":         "tags_none [do-not-contact]",
	}
	for e, w := range want {
		reasons, _, _ := Excluded(ctx, db.DB, campaigns.Audience{TagsNone: []string{"do-not-contact"}}, e)
		if len(reasons) != 1 || !strings.Contains(reasons[0], w) {
			t.Errorf("%s: reasons %q, want one mentioning %q", e, reasons, w)
		}
	}
	if _, found, err := Excluded(ctx, db.DB, campaigns.Audience{}, "nobody@example.jp"); found || err != nil {
		t.Errorf("unknown address: found %v, %v", found, err)
	}
}
