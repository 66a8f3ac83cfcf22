package roster

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/kizuna-alumni/kizuna/internal/store"
)

// The mail a person wants (alumni.mail_kinds, migrations/0011), chosen on
// the unsubscribe page. The names of the two narrower choices are the
// campaign kinds they keep (campaigns.KindNewsletter, campaigns.KindEvent).
const (
	MailAll        = "all"        // every campaign (the default)
	MailNewsletter = "newsletter" // newsletters only: no event invitations
	MailEvent      = "event"      // event invitations only: no newsletters
)

// MailKinds lists every mail_kinds value (a test compares it with the
// schema's CHECK constraint).
var MailKinds = []string{MailAll, MailNewsletter, MailEvent}

// Locales a person may choose for their mail and pages (alumni.locale,
// migrations/0001).
var Locales = []string{"ja", "en"}

// Wants reports whether a person whose preference is kinds (a MailKinds
// value; "" counts as MailAll) still wants a campaign of campaignKind
// ("newsletter" or "event").
func Wants(kinds, campaignKind string) bool {
	return kinds == "" || kinds == MailAll || kinds == campaignKind
}

// SetPreferences saves, for alumnus alumniID, the mail kinds they want
// (one of MailKinds) and their language (one of Locales). It is honoured at
// once: every worker reads both when it claims a delivery. db may be a
// transaction. An unknown kind or locale is an error naming it; an alumnus
// who does not exist or was forgotten gives an error wrapping
// store.ErrNotFound.
func SetPreferences(ctx context.Context, db sqlx.ExecerContext, alumniID int64, kinds, locale string) error {
	if !oneOf(kinds, MailKinds) {
		return fmt.Errorf("set preferences of alumnus %d: unknown mail kinds %q (want one of %v)", alumniID, kinds, MailKinds)
	}
	if !oneOf(locale, Locales) {
		return fmt.Errorf("set preferences of alumnus %d: unknown locale %q (want one of %v)", alumniID, locale, Locales)
	}
	res, err := db.ExecContext(ctx, qSetPreferences, alumniID, kinds, locale)
	if err != nil {
		return fmt.Errorf("set preferences of alumnus %d: %w", alumniID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("set preferences of alumnus %d: %w", alumniID, err)
	} else if n == 0 {
		return fmt.Errorf("set preferences of alumnus %d: no such alumnus with an address: %w", alumniID, store.ErrNotFound)
	}
	return nil
}

func oneOf(s string, set []string) bool {
	for _, v := range set {
		if s == v {
			return true
		}
	}
	return false
}

// ValidPreferences reports whether kinds is one of MailKinds and locale one
// of Locales: what SetPreferences accepts.
func ValidPreferences(kinds, locale string) bool {
	return oneOf(kinds, MailKinds) && oneOf(locale, Locales)
}

// MailKindsOf returns the mail kinds alumnus alumniID wants (a MailKinds
// value), for `alumni show`.
func MailKindsOf(ctx context.Context, db sqlx.QueryerContext, alumniID int64) (string, error) {
	var kinds string
	if err := sqlx.GetContext(ctx, db, &kinds, qMailKinds, alumniID); err != nil {
		return "", fmt.Errorf("preferences of alumnus %d: %w", alumniID, err)
	}
	return kinds, nil
}
