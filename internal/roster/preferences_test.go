package roster_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/kizuna-alumni/kizuna/internal/roster"
	"github.com/kizuna-alumni/kizuna/internal/store"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
)

func TestSetPreferences(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	ids := testdb.Alumni(t, db, testdb.Alumnus{Email: "a@example.jp"}, testdb.Alumnus{Status: "forgotten"})
	ctx := t.Context()
	if err := roster.SetPreferences(ctx, db, ids[0], roster.MailEvent, "en"); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Kinds  string `db:"mail_kinds"`
		Locale string `db:"locale"`
	}
	if err := db.Get(&got, `SELECT mail_kinds, locale FROM alumni WHERE id = $1`, ids[0]); err != nil || got.Kinds != "event" || got.Locale != "en" {
		t.Errorf("saved %+v (%v), want event, en", got, err)
	}
	for _, c := range []struct{ kinds, locale string }{{"sms", "ja"}, {"all", "fr"}, {"", "ja"}} {
		if err := roster.SetPreferences(ctx, db, ids[0], c.kinds, c.locale); err == nil {
			t.Errorf("%q %q accepted", c.kinds, c.locale)
		}
	}
	if err := roster.SetPreferences(ctx, db, ids[1], roster.MailAll, "ja"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a forgotten person: %v, want ErrNotFound", err)
	}
	if err := roster.SetPreferences(ctx, db, ids[1]+100, roster.MailAll, "ja"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("nobody: %v, want ErrNotFound", err)
	}
	if !roster.Wants(roster.MailAll, "event") || !roster.Wants("", "newsletter") || roster.Wants(roster.MailEvent, "newsletter") || !roster.Wants(roster.MailNewsletter, "newsletter") {
		t.Error("Wants is wrong")
	}
}

// TestImportKeepsALanguageThePersonChose: the language a person chose on
// the preferences page survives a later import whose locale cell says
// otherwise; a person who chose nothing follows the spreadsheet.
func TestImportKeepsALanguageThePersonChose(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	ctx := t.Context()
	s := roster.NewStore(db.DB, nil)
	csv := "email,name,locale,consent\nyumi@example.jp,林 由美,ja,yes\nken@example.jp,佐藤 健,ja,yes\n"
	imp := func() {
		t.Helper()
		if _, err := s.Import(ctx, strings.NewReader(csv), roster.ImportOptions{FileName: "r.csv"}); err != nil {
			t.Fatal(err)
		}
	}
	imp()
	var yumi int64
	if err := db.Get(&yumi, `SELECT id FROM alumni WHERE email = 'yumi@example.jp'`); err != nil {
		t.Fatal(err)
	}
	if err := roster.SetPreferences(ctx, db, yumi, roster.MailEvent, "en"); err != nil {
		t.Fatal(err)
	}
	imp()
	var locales []string
	if err := db.Select(&locales, `SELECT locale FROM alumni ORDER BY email`); err != nil {
		t.Fatal(err)
	}
	if strings.Join(locales, ",") != "ja,en" { // ken, yumi
		t.Fatalf("locales after re-import %v, want ken ja and yumi's own en", locales)
	}
}
