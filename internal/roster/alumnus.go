package roster

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/kizuna-alumni/kizuna/internal/store"
	"github.com/kizuna-alumni/kizuna/internal/tz"
)

// Alumnus is one person of the roster as stored.
type Alumnus struct {
	ID              int64
	Email           string
	FamilyName      string
	GivenName       string
	FamilyNameKana  string
	GivenNameKana   string
	EmployeeID      string // "" when none
	Department      string
	JoinedOn        *time.Time
	LeftOn          *time.Time
	Locale          string
	Timezone        string
	Tags            []string
	Consent         bool
	ConsentedAt     *time.Time
	ConsentSource   string
	Status          string
	StatusChangedAt *time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Export is the machine-readable form of an alumnus (SPEC.md,
// Machine-readable output): the import columns plus status. Absent dates
// and employee ids are null.
type Export struct {
	Email          string   `json:"email"`
	FamilyName     string   `json:"family_name"`
	GivenName      string   `json:"given_name"`
	FamilyNameKana string   `json:"family_name_kana"`
	GivenNameKana  string   `json:"given_name_kana"`
	EmployeeID     *string  `json:"employee_id"`
	Department     string   `json:"department"`
	JoinedOn       *string  `json:"joined_on"`
	LeftOn         *string  `json:"left_on"`
	Locale         string   `json:"locale"`
	Timezone       string   `json:"timezone"`
	Tags           []string `json:"tags"`
	Consent        bool     `json:"consent"`
	ConsentedAt    *string  `json:"consented_at"`
	ConsentSource  string   `json:"consent_source"`
	Status         string   `json:"status"`
}

// Export returns the alumnus in export form. consented_at is RFC 3339 in the
// person's own time zone, so that a consent given on a local date reads as
// that date, at the full precision stored (microseconds, when there are
// any: a consent recorded at import or resubscribe time), so that an export
// re-imports unchanged.
func (a *Alumnus) Export() Export {
	date := func(t *time.Time) *string {
		if t == nil {
			return nil
		}
		s := t.Format(time.DateOnly)
		return &s
	}
	e := Export{
		Email: a.Email, FamilyName: a.FamilyName, GivenName: a.GivenName,
		FamilyNameKana: a.FamilyNameKana, GivenNameKana: a.GivenNameKana,
		Department: a.Department, JoinedOn: date(a.JoinedOn), LeftOn: date(a.LeftOn),
		Locale: a.Locale, Timezone: a.Timezone, Tags: a.Tags, Consent: a.Consent,
		ConsentSource: a.ConsentSource, Status: a.Status,
	}
	if e.Tags == nil {
		e.Tags = []string{}
	}
	if a.EmployeeID != "" {
		id := a.EmployeeID
		e.EmployeeID = &id
	}
	if a.ConsentedAt != nil {
		s := a.ConsentedAt.In(tz.Load(a.Timezone)).Format(time.RFC3339Nano)
		e.ConsentedAt = &s
	}
	return e
}

type scannable interface{ Scan(dest ...any) error }

func scanAlumnus(row scannable) (Alumnus, error) {
	var a Alumnus
	var tags pq.StringArray
	err := row.Scan(&a.ID, &a.Email, &a.FamilyName, &a.GivenName, &a.FamilyNameKana, &a.GivenNameKana,
		&a.EmployeeID, &a.Department, &a.JoinedOn, &a.LeftOn, &a.Locale, &a.Timezone, &tags,
		&a.Consent, &a.ConsentedAt, &a.ConsentSource, &a.Status, &a.StatusChangedAt, &a.CreatedAt, &a.UpdatedAt)
	a.Tags = []string(tags)
	return a, err
}

// normalize is the stored form of an address given on the command line
// (CanonicalEmail), so that "taro..yamada"@docomo.ne.jp finds
// taro..yamada@docomo.ne.jp. Something that is not an address at all is
// only trimmed and lower-cased: it finds nobody, and unsubscribe and forget
// still put its hash on the suppression list as before.
func normalize(email string) string {
	email = strings.TrimSpace(email)
	if c, err := CanonicalEmail(email); err == nil {
		return c
	}
	return strings.ToLower(email)
}

// Find returns the alumnus with this address (any case). It returns an
// error wrapping store.ErrNotFound when there is none.
func (s *Store) Find(ctx context.Context, email string) (Alumnus, error) {
	a, err := scanAlumnus(s.db.QueryRowContext(ctx, qFindAlumnus, normalize(email)))
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("no alumnus with address %q: %w", email, store.ErrNotFound)
	}
	if err != nil {
		return a, fmt.Errorf("find alumnus: %w", err)
	}
	return a, nil
}
