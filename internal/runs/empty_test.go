package runs_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
)

// Empty values are counted per locale and field the subject or body uses,
// over the audience only, with the fallback that covers them.
func TestEmptyFieldsCountsTheAudience(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	ctx := context.Background()
	testdb.Alumni(t, db,
		testdb.Alumnus{Email: "a@example.jp", GivenName: "太郎", Locale: "ja", Consent: true},
		testdb.Alumnus{Email: "b@example.jp", FamilyName: "　", Department: "開発部", Locale: "ja", Consent: true},
		testdb.Alumnus{Email: "c@example.jp", FamilyName: "山田", GivenName: "花子", Locale: "ja", Consent: true},
		testdb.Alumnus{Email: "d@example.jp", FamilyName: "Smith", Locale: "en", Consent: true},
		testdb.Alumnus{Email: "e@example.jp", GivenName: "Jane", Locale: "en", Consent: true},
		testdb.Alumnus{Email: "x@example.jp", Locale: "ja"})
	c := newsletter("empty-count")
	c.Subject["ja"] = "{{.FamilyName}}様 {{.Department}}"
	c.Fallback = map[string]map[string]string{"en": {"GivenName": "there"}}
	got, err := runs.EmptyFields(ctx, db.DB, c)
	if err != nil {
		t.Fatal(err)
	}
	there := "there"
	want := []runs.EmptyCount{
		{Field: "FamilyName", Locale: "ja", Count: 2},
		{Field: "Department", Locale: "ja", Count: 2},
		{Field: "GivenName", Locale: "en", Count: 1, Fallback: &there},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("EmptyFields =\n%+v\nwant\n%+v", got, want)
	}
	if n := runs.Uncovered(got); n != 4 {
		t.Errorf("Uncovered = %d, want 4", n)
	}

	// The same counted over a run's deliveries.
	vid, err := runs.RegisterVersion(ctx, db.DB, c)
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := runs.Create(ctx, db.DB, vid, "manual:1", runs.KindSend)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runs.Expand(ctx, db.DB, r.ID); err != nil {
		t.Fatal(err)
	}
	ofRun, err := runs.EmptyFieldsOfRun(ctx, db.DB, c, r.Number)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ofRun, want) {
		t.Errorf("EmptyFieldsOfRun =\n%+v\nwant\n%+v", ofRun, want)
	}

	// A campaign that substitutes nothing that can be empty needs no query.
	plain := newsletter("plain")
	plain.Subject = map[string]string{"ja": "お知らせ", "en": "News for {{.Email}}"}
	if got, err := runs.EmptyFields(ctx, db.DB, plain); err != nil || got != nil {
		t.Errorf("EmptyFields(plain) = %v, %v", got, err)
	}
}
