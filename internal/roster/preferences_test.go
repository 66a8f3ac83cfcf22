package roster_test

import (
	"errors"
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
