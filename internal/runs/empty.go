package runs

import (
	"context"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/kizuna-alumni/kizuna/campaigns"
)

// EmptyCount is how many recipients of one locale would get an empty value
// for one field that the locale's subject or body substitutes.
type EmptyCount struct {
	Field  string `json:"field"`  // as in {{.FamilyName}}: "FamilyName"
	Locale string `json:"locale"` // "ja" or "en"
	Count  int64  `json:"count"`  // recipients whose value is empty
	// Fallback is the campaign's fallback that these recipients get
	// instead (campaigns.Campaign.Fallback); nil when there is none and
	// they would get an empty value.
	Fallback *string `json:"fallback"`
}

// Uncovered reports whether some recipients would get an empty value that
// no fallback replaces.
func (e EmptyCount) Uncovered() bool { return e.Count > 0 && e.Fallback == nil }

// emptySQL is, per field that may be empty, when a recipient's value of it
// is empty, over alumni a. The rule is render's (only ASCII and full-width
// spaces, which the roster import trims anyway); dates are empty when
// unknown, and YearsSinceLeft when left_on is. Constant SQL, never input.
var emptySQL = map[string]string{
	"FamilyName":     `btrim(a.family_name, ' ` + "\u3000" + `') = ''`,
	"GivenName":      `btrim(a.given_name, ' ` + "\u3000" + `') = ''`,
	"FullName":       `btrim(a.family_name, ' ` + "\u3000" + `') = '' AND btrim(a.given_name, ' ` + "\u3000" + `') = ''`,
	"Department":     `btrim(a.department, ' ` + "\u3000" + `') = ''`,
	"JoinedOn":       `a.joined_on IS NULL`,
	"LeftOn":         `a.left_on IS NULL`,
	"YearsSinceLeft": `a.left_on IS NULL`,
}

// EmptyFields counts, for each locale of c's audience and each field its
// subject or body substitutes that may be empty (campaigns.FallbackFields),
// the alumni of the audience now whose value is empty, and names the
// fallback that covers them. One set-based query; nothing is loaded but
// the counts. Fields no recipient can lack (Email, event fields) are not
// listed. Returns nil without a query when no such field is used.
func EmptyFields(ctx context.Context, db sqlx.QueryerContext, c *campaigns.Campaign) ([]EmptyCount, error) {
	where, args := AudienceFilter(c.Audience, 1)
	out, err := countEmpty(ctx, db, c, "alumni a WHERE "+where, args)
	if err != nil {
		return nil, fmt.Errorf("empty fields of campaign %s: %w", c.ID, err)
	}
	return out, nil
}

// EmptyFieldsOfRun is EmptyFields over the recipients of run number run of
// campaign c (its deliveries, as expanded), so that a started run can be
// reported exactly, reminders included.
func EmptyFieldsOfRun(ctx context.Context, db sqlx.QueryerContext, c *campaigns.Campaign, run int) ([]EmptyCount, error) {
	from := `runs r JOIN deliveries d ON d.run_id = r.id JOIN alumni a ON a.id = d.alumni_id WHERE r.campaign_id = $1 AND r.number = $2`
	out, err := countEmpty(ctx, db, c, from, []any{c.ID, run})
	if err != nil {
		return nil, fmt.Errorf("empty fields of run %d of %s: %w", run, c.ID, err)
	}
	return out, nil
}

// countEmpty runs one SELECT of count(*) FILTER (...) columns, one per
// (locale, field), FROM from; args are from's parameters, the locales
// follow them.
func countEmpty(ctx context.Context, db sqlx.QueryerContext, c *campaigns.Campaign, from string, args []any) ([]EmptyCount, error) {
	ls := c.Audience.Locales
	if len(ls) == 0 {
		ls = campaigns.DefaultLocales
	}
	var out []EmptyCount
	var cols []string
	for _, l := range ls {
		if _, ok := c.Template.Body[l]; !ok {
			continue
		}
		var param string
		for _, f := range c.UsedFields(l) {
			cond, ok := emptySQL[f]
			if !ok {
				continue
			}
			if param == "" {
				args = append(args, l)
				param = fmt.Sprintf("$%d", len(args))
			}
			cols = append(cols, "count(*) FILTER (WHERE a.locale = "+param+" AND "+cond+")")
			e := EmptyCount{Field: f, Locale: l}
			if fb, ok := c.FallbackFor(l, f); ok {
				e.Fallback = &fb
			}
			out = append(out, e)
		}
	}
	if len(cols) == 0 {
		return nil, nil
	}
	counts := make([]any, len(out))
	for i := range out {
		counts[i] = &out[i].Count
	}
	if err := db.QueryRowxContext(ctx, "SELECT "+strings.Join(cols, ", ")+" FROM "+from, args...).Scan(counts...); err != nil {
		return nil, err
	}
	return out, nil
}

// Uncovered sums the counts of es that no fallback covers.
func Uncovered(es []EmptyCount) int64 {
	var n int64
	for _, e := range es {
		if e.Uncovered() {
			n += e.Count
		}
	}
	return n
}

// DescribeUncovered describes the empty values of es that no fallback
// covers, e.g. "2 recipients would get an empty {{.FamilyName}} (ja), 1
// recipient an empty {{.GivenName}} (en)"; "" when there are none.
func DescribeUncovered(es []EmptyCount) string {
	var parts []string
	for _, e := range es {
		if !e.Uncovered() {
			continue
		}
		who := fmt.Sprintf("%d recipients", e.Count)
		if e.Count == 1 {
			who = "1 recipient"
		}
		if len(parts) == 0 {
			parts = append(parts, fmt.Sprintf("%s would get an empty {{.%s}} (%s)", who, e.Field, e.Locale))
		} else {
			parts = append(parts, fmt.Sprintf("%s an empty {{.%s}} (%s)", who, e.Field, e.Locale))
		}
	}
	return strings.Join(parts, ", ")
}
