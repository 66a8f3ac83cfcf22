package campaigns

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Compile turns the audience into a SQL boolean expression over the alumni
// table aliased "a", using placeholders $first, $first+1, ... only (never
// text from the file), plus their args. It always excludes status
// unsubscribed/bounced/forgotten and suppressed hashes, and applies consent.
func (a Audience) Compile(first int) (where string, args []any) {
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", first+len(args)-1)
	}
	conds := []string{
		// Only the status constant is SQL text; it comes from this code.
		"a.status = 'active'",
		"a.email IS NOT NULL",
		// The suppression list is keyed by the SHA-256 of the lower-cased
		// address (store.HashEmail); alumni emails are stored lower-case.
		"NOT EXISTS (SELECT 1 FROM suppressions s WHERE s.email_hash = sha256(convert_to(a.email, 'UTF8')))",
	}
	if a.Consent != ConsentAny {
		// The law on commercial email asks for a record of when consent
		// was given, not only a flag.
		conds = append(conds, "a.consent AND a.consented_at IS NOT NULL")
	}
	ls := a.Locales
	if len(ls) == 0 {
		ls = DefaultLocales
	}
	conds = append(conds, "a.locale = ANY("+arg(pq.StringArray(ls))+"::text[])")
	if len(a.TagsAny) > 0 {
		conds = append(conds, "a.tags && "+arg(pq.StringArray(a.TagsAny))+"::text[]")
	}
	if len(a.TagsNone) > 0 {
		conds = append(conds, "NOT (a.tags && "+arg(pq.StringArray(a.TagsNone))+"::text[])")
	}
	if len(a.Departments) > 0 {
		conds = append(conds, "a.department = ANY("+arg(pq.StringArray(a.Departments))+"::text[])")
	}
	if r := a.LeftBetween; r != nil {
		conds = append(conds, "a.left_on BETWEEN "+arg(r.From.Format(time.DateOnly))+"::date AND "+arg(r.To.Format(time.DateOnly))+"::date")
	}
	if r := a.JoinedBetween; r != nil {
		conds = append(conds, "a.joined_on BETWEEN "+arg(r.From.Format(time.DateOnly))+"::date AND "+arg(r.To.Format(time.DateOnly))+"::date")
	}
	return "(" + strings.Join(conds, ")\n  AND (") + ")", args
}

// Reach counts the alumni the campaign would reach now.
func Reach(ctx context.Context, db *sqlx.DB, c *Campaign) (int, error) {
	where, args := c.Audience.Compile(1)
	var n int
	if err := db.GetContext(ctx, &n, "SELECT count(*) FROM alumni a WHERE "+where, args...); err != nil {
		return 0, fmt.Errorf("reach of campaign %s: %w", c.ID, err)
	}
	return n, nil
}
