package runs

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"golang.org/x/text/unicode/norm"

	"github.com/kizuna-alumni/kizuna/internal/store"
)

// Attendee is one answer to an event, as the reception desk reads it
// (`kizuna campaign attendees`): the person's name, kana and department
// from the roster (the department is the one at leaving), and their answer.
type Attendee struct {
	FamilyName     string `db:"family_name"`
	GivenName      string `db:"given_name"`
	FamilyNameKana string `db:"family_name_kana"`
	GivenNameKana  string `db:"given_name_kana"`
	Department     string `db:"department"`
	Email          string `db:"email"`
	// Answer is "yes", "no" or "maybe" (the RSVP's PARTSTAT ACCEPTED,
	// DECLINED or TENTATIVE, RFC 5545 §3.2.12). A waitlisted person
	// answered "yes".
	Answer string `db:"answer"`
	// AnsweredAt is when the answer last changed (an answer given again
	// unchanged keeps its time, and so its place on the waiting list).
	AnsweredAt time.Time `db:"answered_at"`
	// Waitlisted is true for a "yes" given when the event was full.
	Waitlisted bool `db:"waitlisted"`
	// Position is the 1-based place on the waiting list among the people
	// listed; 0 unless Waitlisted.
	Position int `db:"position"`
}

// Attendees lists the answers to event campaignID for the reception desk:
// the guests (yes, not waitlisted) first, then the waiting list in its
// order (Position 1..n: by answered_at, then alumni id), then maybe, then
// no; within each of the other groups by family-name kana, given-name kana,
// then name (people without kana after those with it). Kana compare after
// NFKC (half-width ｶﾅ as full-width) with hiragana folded to katakana, so
// that やまだ, ヤマダ and ﾔﾏﾀﾞ sort together. Forgotten people are left out
// (`campaign status` still counts their answers). It returns
// store.ErrNotFound for an unknown campaign and an empty slice for a known
// one without answers (a newsletter has none).
func Attendees(ctx context.Context, db sqlx.QueryerContext, campaignID string) ([]Attendee, error) {
	ok, err := CampaignExists(ctx, db, campaignID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("attendees of %s: %w", campaignID, store.ErrNotFound)
	}
	out := []Attendee{}
	if err := sqlx.SelectContext(ctx, db, &out, qAttendees, campaignID); err != nil {
		return nil, fmt.Errorf("attendees of %s: %w", campaignID, err)
	}
	keyed := make([]struct {
		k attendeeKey
		a Attendee
	}, len(out))
	for i, a := range out {
		keyed[i].k, keyed[i].a = keyOf(a), a
	}
	sort.Slice(keyed, func(i, j int) bool { return keyed[i].k.less(keyed[j].k) })
	for i := range keyed {
		out[i] = keyed[i].a
	}
	return out, nil
}

// attendeeKey is what Attendees sorts by.
type attendeeKey struct {
	group      int // 0 guests, 1 waiting list, 2 maybe, 3 no
	position   int
	noKana     bool
	family     string // folded kana
	given      string
	familyName string
	givenName  string
	email      string // unique: the order is total
}

// keyOf returns the sort key of a.
func keyOf(a Attendee) attendeeKey {
	k := attendeeKey{position: a.Position, family: foldKana(a.FamilyNameKana), given: foldKana(a.GivenNameKana),
		familyName: a.FamilyName, givenName: a.GivenName, email: a.Email}
	k.noKana = k.family == "" && k.given == ""
	switch {
	case a.Answer == "yes" && !a.Waitlisted:
		k.group = 0
	case a.Answer == "yes":
		k.group = 1
	case a.Answer == "maybe":
		k.group = 2
	default:
		k.group = 3
	}
	return k
}

func (k attendeeKey) less(o attendeeKey) bool {
	switch {
	case k.group != o.group:
		return k.group < o.group
	case k.position != o.position:
		return k.position < o.position
	case k.noKana != o.noKana:
		return !k.noKana
	case k.family != o.family:
		return k.family < o.family
	case k.given != o.given:
		return k.given < o.given
	case k.familyName != o.familyName:
		return k.familyName < o.familyName
	case k.givenName != o.givenName:
		return k.givenName < o.givenName
	}
	return k.email < o.email
}

// foldKana makes kana comparable in the order of the syllabary: NFKC turns
// half-width katakana (and their separate voicing marks) into full-width,
// then hiragana become katakana (U+3041–U+3096 and ゝゞ are U+0060 below
// their katakana), and spaces go.
func foldKana(s string) string {
	s = norm.NFKC.String(s)
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'ぁ' && r <= 'ゖ', r == 'ゝ', r == 'ゞ':
			return r + 0x60
		case r == ' ' || r == '\u3000':
			return -1
		}
		return r
	}, s)
}
