package runs

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/kizuna-alumni/kizuna/campaigns"
)

// The audience query: which alumni a campaign reaches. runs owns it because
// it is what an expansion selects; it reads the roster's alumni and
// suppressions in the same statement (ARCHITECTURE.md).

// AudienceFilter compiles a campaign's audience into a SQL boolean
// expression over the alumni table aliased "a", using placeholders $first,
// $first+1, ... only (never text from the file), plus their args. It always
// excludes people who are not active, have no address or are on the
// suppression list, and applies consent. The expansion of a run, its reach
// and the empty-value counts all use it, so they agree.
func AudienceFilter(a campaigns.Audience, first int) (where string, args []any) {
	conds, args := audienceConditions(a, first)
	sqls := make([]string, len(conds))
	for i, c := range conds {
		sqls[i] = c.sql
	}
	return "(" + strings.Join(sqls, ")\n  AND (") + ")", args
}

// condition is one AND-ed part of an audience: its SQL over alumni "a" and
// what it means for someone it leaves out.
type condition struct {
	sql string
	why string
}

// conditions lists the parts of the audience filter, numbering placeholders
// from first.
func audienceConditions(a campaigns.Audience, first int) (conds []condition, args []any) {
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", first+len(args)-1)
	}
	list := func(s []string) string { return strings.Join(s, ", ") }
	conds = []condition{
		// Only the status constant is SQL text; it comes from this code.
		{"a.status = 'active'", "their status is not active"}, // Excluded names the status
		{"a.email IS NOT NULL", "they have no address"},
		// The suppression list is keyed by the SHA-256 of the lower-cased
		// address (store.HashEmail); alumni emails are stored lower-case.
		{"NOT EXISTS (SELECT 1 FROM suppressions s WHERE s.email_hash = sha256(convert_to(a.email, 'UTF8')))", "their address is on the suppression list"},
	}
	if a.Consent != campaigns.ConsentAny {
		// The law on commercial email asks for a record of when consent
		// was given, not only a flag.
		conds = append(conds, condition{"a.consent AND a.consented_at IS NOT NULL", "no consent on record (consent: required needs consent yes and its date)"})
	}
	ls := a.Locales
	if len(ls) == 0 {
		ls = campaigns.DefaultLocales
	}
	conds = append(conds, condition{"a.locale = ANY(" + arg(pq.StringArray(ls)) + "::text[])", "their locale is not in locales [" + list(ls) + "]"})
	if len(a.TagsAny) > 0 {
		conds = append(conds, condition{"a.tags && " + arg(pq.StringArray(a.TagsAny)) + "::text[]", "they have none of tags_any [" + list(a.TagsAny) + "]"})
	}
	if len(a.TagsNone) > 0 {
		conds = append(conds, condition{"NOT (a.tags && " + arg(pq.StringArray(a.TagsNone)) + "::text[])", "they have a tag of tags_none [" + list(a.TagsNone) + "]"})
	}
	if len(a.Departments) > 0 {
		conds = append(conds, condition{"a.department = ANY(" + arg(pq.StringArray(a.Departments)) + "::text[])", "their department is not in departments [" + list(a.Departments) + "]"})
	}
	if r := a.LeftBetween; r != nil {
		conds = append(conds, condition{"a.left_on BETWEEN " + arg(r.From.Format(time.DateOnly)) + "::date AND " + arg(r.To.Format(time.DateOnly)) + "::date",
			"their left_on is not within left_between [" + r.From.Format(time.DateOnly) + ", " + r.To.Format(time.DateOnly) + "]"})
	}
	if r := a.JoinedBetween; r != nil {
		conds = append(conds, condition{"a.joined_on BETWEEN " + arg(r.From.Format(time.DateOnly)) + "::date AND " + arg(r.To.Format(time.DateOnly)) + "::date",
			"their joined_on is not within joined_between [" + r.From.Format(time.DateOnly) + ", " + r.To.Format(time.DateOnly) + "]"})
	}
	return conds, args
}

// Excluded says why the alumnus with address email (as stored: lower-case)
// is outside the audience a, one reason per condition of AudienceFilter that their
// row fails (a NULL date fails its range), in the order of Compile. It
// returns no reasons when they are in the audience, and found false when no
// alumnus has that address.
func Excluded(ctx context.Context, db sqlx.QueryerContext, a campaigns.Audience, email string) (reasons []string, found bool, err error) {
	conds, args := audienceConditions(a, 2)
	cols := make([]string, len(conds))
	for i, c := range conds {
		cols[i] = "COALESCE((" + c.sql + "), false)"
	}
	rows, err := db.QueryContext(ctx, "SELECT a.status, "+strings.Join(cols, ", ")+" FROM alumni a WHERE a.email = $1", append([]any{email}, args...)...)
	if err != nil {
		return nil, false, fmt.Errorf("audience of %s: %w", email, err)
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, false, rows.Err()
	}
	var status string
	ok := make([]bool, len(conds))
	dest := []any{&status}
	for i := range ok {
		dest = append(dest, &ok[i])
	}
	if err := rows.Scan(dest...); err != nil {
		return nil, true, fmt.Errorf("audience of %s: %w", email, err)
	}
	for i, c := range conds {
		switch {
		case ok[i]:
		case i == 0: // the status condition: say which
			reasons = append(reasons, "they are "+status+" (never mailed)")
		default:
			reasons = append(reasons, c.why)
		}
	}
	return reasons, true, rows.Err()
}

// Reach counts the alumni the campaign c would reach now.
func Reach(ctx context.Context, db sqlx.QueryerContext, c *campaigns.Campaign) (int, error) {
	where, args := AudienceFilter(c.Audience, 1)
	var n int
	if err := sqlx.GetContext(ctx, db, &n, "SELECT count(*) FROM alumni a WHERE "+where, args...); err != nil {
		return 0, fmt.Errorf("reach of campaign %s: %w", c.ID, err)
	}
	return n, nil
}
