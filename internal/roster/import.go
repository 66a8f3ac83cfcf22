package roster

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Store runs the roster's operations against Postgres.
type Store struct {
	db  *sqlx.DB
	now func() time.Time
}

// NewStore returns a Store on db. now is the clock (nil: time.Now).
func NewStore(db *sqlx.DB, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, now: now}
}

// ImportOptions tune one import.
type ImportOptions struct {
	// FileName is recorded as the consent source ("import:FILE") of rows
	// that say consent: yes without a source.
	FileName string
	// DryRun reports what the import would do and writes nothing.
	DryRun bool
	// Encoding forces the file's encoding (EncodingUTF8 or EncodingCP932);
	// empty detects it.
	Encoding string
}

// ImportResult counts what an import did (or, in a dry run, would do).
type ImportResult struct {
	Imported  int         `json:"imported"`  // new people
	Updated   int         `json:"updated"`   // existing people whose data changed
	Unchanged int         `json:"unchanged"` // existing people already up to date
	Rejected  []Rejection `json:"rejected"`  // by line
	Encoding  string      `json:"-"`
	Detection Detection   `json:"-"` // how Encoding was chosen; Close means it may be wrong
	Warnings  []Warning   `json:"-"`
	Timing    Timing      `json:"-"`
}

// Timing splits an import's wall time into its phases, for benchmarks and
// for finding which one a slow import spends its time in.
type Timing struct {
	Copy   time.Duration // read, check and COPY into the stage
	Checks time.Duration // rules that need the database
	Upsert time.Duration // the one INSERT ... ON CONFLICT
	Commit time.Duration
}

// Reasons for rejections decided by the database side of the import.
const (
	reasonForgotten = "the address was erased at the person's request"
)

// Import reads a roster CSV from src and upserts its valid rows, all in one
// transaction: rows stream into a temporary staging table with COPY, the
// rules that need the database (duplicates in the file, erased addresses,
// employee ids of other people) remove rows from the stage as rejections,
// and one INSERT ... ON CONFLICT applies the rest. Memory stays flat in the
// file's size. An error wrapping ErrNotRoster means the file is not a
// roster CSV; the transaction is then rolled back.
func (s *Store) Import(ctx context.Context, src io.Reader, opts ImportOptions) (ImportResult, error) {
	res := ImportResult{Rejected: []Rejection{}}
	now := s.now()
	rd, err := NewReader(src, ReaderOptions{Now: func() time.Time { return now }, Encoding: opts.Encoding})
	if err != nil {
		return res, err
	}
	res.Warnings = rd.Warnings()

	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return res, fmt.Errorf("import roster: %w", err)
	}
	defer tx.Rollback()
	// The duplicate checks and the upsert sort and hash the whole stage;
	// the default 4 MB would spill them to disk from about 30k rows.
	if _, err := tx.ExecContext(ctx, `SET LOCAL work_mem = '64MB'`); err != nil {
		return res, fmt.Errorf("import roster: %w", err)
	}
	if _, err := tx.ExecContext(ctx, sqlCreateStage); err != nil {
		return res, fmt.Errorf("import roster: create staging table: %w", err)
	}
	phase := time.Now()
	lap := func(d *time.Duration) { now := time.Now(); *d = now.Sub(phase); phase = now }
	staged, err := copyRows(ctx, tx, rd, &res)
	if err != nil {
		return res, err
	}
	res.Encoding, res.Detection = rd.Encoding(), rd.Detection()
	lap(&res.Timing.Copy)

	for _, step := range []struct {
		name, query string
		args        []any
	}{
		// Order matters: a row that takes another person's employee id is
		// out before in-file duplicates are counted, so that it cannot
		// push out the row of the id's owner further down.
		{"duplicate emails", sqlRejectDuplicateEmails, nil},
		{"erased addresses", sqlRejectForgotten, []any{reasonForgotten}},
		{"employee ids of other people", sqlRejectTakenEmployeeIDs, nil},
		{"duplicate employee ids", sqlRejectDuplicateEmployeeIDs, nil},
	} {
		n, err := rejectStaged(ctx, tx, &res, step.query, step.args...)
		if err != nil {
			return res, fmt.Errorf("import roster: %s: %w", step.name, err)
		}
		staged -= n
	}

	lap(&res.Timing.Checks)
	source := "import:" + opts.FileName
	if err := tx.QueryRowxContext(ctx, sqlUpsert, now, source).Scan(&res.Imported, &res.Updated); err != nil {
		return res, fmt.Errorf("import roster: upsert: %w", err)
	}
	res.Unchanged = staged - res.Imported - res.Updated
	lap(&res.Timing.Upsert)
	sort.SliceStable(res.Rejected, func(i, j int) bool { return res.Rejected[i].Line < res.Rejected[j].Line })
	if opts.DryRun {
		return res, nil // the deferred rollback discards everything
	}
	if err := tx.Commit(); err != nil {
		return res, fmt.Errorf("import roster: commit: %w", err)
	}
	lap(&res.Timing.Commit)
	return res, nil
}

// copyBatch is how many records the reading goroutine hands over at once.
const copyBatch = 512

// readResult is one record of the file: a row or a rejection.
type readResult struct {
	row Row
	rej *Rejection
}

// copyRows streams every valid row of rd into the staging table and collects
// the rejected ones. Reading (decoding, checking) runs in its own goroutine
// so that it overlaps with COPY, which keeps Postgres busy on the other
// core. It returns how many rows it staged.
func copyRows(ctx context.Context, tx *sqlx.Tx, rd *Reader, res *ImportResult) (int, error) {
	stmt, err := tx.PrepareContext(ctx, sqlCopyStage)
	if err != nil {
		return 0, fmt.Errorf("import roster: start copy: %w", err)
	}
	defer stmt.Close()

	ctx, cancel := context.WithCancel(ctx)
	batches := make(chan []readResult, 4)
	readErr := make(chan error, 1)
	go func() {
		defer close(batches)
		batch := make([]readResult, 0, copyBatch)
		send := func() bool {
			select {
			case batches <- batch:
				batch = make([]readResult, 0, copyBatch)
				return true
			case <-ctx.Done():
				return false
			}
		}
		for {
			row, rej, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				readErr <- fmt.Errorf("import roster: read line %d: %w", rd.sc.line, err)
				return
			}
			batch = append(batch, readResult{row, rej})
			if len(batch) == copyBatch && !send() {
				readErr <- nil
				return
			}
		}
		if len(batch) > 0 && !send() {
			readErr <- nil
			return
		}
		readErr <- nil
	}()
	// On every return path: stop the reader and wait for it, since the
	// caller reads rd afterwards.
	defer func() {
		cancel()
		for range batches {
		}
	}()

	staged := 0
	for batch := range batches {
		for _, r := range batch {
			if r.rej != nil {
				res.Rejected = append(res.Rejected, *r.rej)
				continue
			}
			if _, err := stmt.ExecContext(ctx, stageValues(r.row)...); err != nil {
				return staged, fmt.Errorf("import roster: copy line %d: %w", r.row.Line, err)
			}
			staged++
		}
	}
	if err := <-readErr; err != nil {
		return staged, err
	}
	if _, err := stmt.ExecContext(ctx); err != nil {
		return staged, fmt.Errorf("import roster: finish copy: %w", err)
	}
	return staged, nil
}

// stageValues orders a row's values as sqlCopyStage lists its columns; an
// empty cell is NULL.
func stageValues(r Row) []any {
	str := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	date := func(t *time.Time) any {
		if t == nil {
			return nil
		}
		return t.Format(time.DateOnly)
	}
	var tags, consent, consentedAt any
	if r.Tags != nil {
		tags, _ = pq.StringArray(r.Tags).Value()
	}
	if r.Consent != nil {
		consent = *r.Consent
	}
	if r.ConsentedAt != nil {
		consentedAt = r.ConsentedAt.Format(time.RFC3339Nano)
	}
	return []any{
		r.Line, r.RawEmail, r.Email,
		str(r.FamilyName), str(r.GivenName), str(r.FamilyNameKana), str(r.GivenNameKana),
		str(r.EmployeeID), str(r.Department), date(r.JoinedOn), date(r.LeftOn),
		str(r.Locale), str(r.Timezone), tags, consent, consentedAt, str(r.ConsentSource),
	}
}

// rejectStaged runs one of the sqlReject queries, which delete rows from the
// stage and return (line, raw email, reason).
func rejectStaged(ctx context.Context, tx *sqlx.Tx, res *ImportResult, query string, args ...any) (int, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var r Rejection
		if err := rows.Scan(&r.Line, &r.Email, &r.Reason); err != nil {
			return n, err
		}
		res.Rejected = append(res.Rejected, r)
		n++
	}
	return n, rows.Err()
}

// The staging table lives only for the import's transaction. NULL in any
// column is an empty cell.
const sqlCreateStage = `
CREATE TEMP TABLE roster_stage (
    line             int NOT NULL,
    raw_email        text NOT NULL,
    email            text NOT NULL,
    family_name      text,
    given_name       text,
    family_name_kana text,
    given_name_kana  text,
    employee_id      text,
    department       text,
    joined_on        date,
    left_on          date,
    locale           text,
    timezone         text,
    tags             text[],
    consent          boolean,
    consented_at     timestamptz,
    consent_source   text
) ON COMMIT DROP`

const sqlCopyStage = `COPY roster_stage (line, raw_email, email, family_name, given_name,
    family_name_kana, given_name_kana, employee_id, department, joined_on, left_on,
    locale, timezone, tags, consent, consented_at, consent_source) FROM STDIN`

// The first row with an email wins; later ones are rejected.
const sqlRejectDuplicateEmails = `
DELETE FROM roster_stage s
USING (SELECT line, first_value(line) OVER w AS first, row_number() OVER w AS n
       FROM roster_stage WINDOW w AS (PARTITION BY email ORDER BY line)) d
WHERE s.line = d.line AND d.n > 1
RETURNING s.line, s.raw_email, 'duplicate email: first used on line ' || d.first`

const sqlRejectDuplicateEmployeeIDs = `
DELETE FROM roster_stage s
USING (SELECT line, first_value(line) OVER w AS first, row_number() OVER w AS n
       FROM roster_stage WHERE employee_id IS NOT NULL
       WINDOW w AS (PARTITION BY employee_id ORDER BY line)) d
WHERE s.line = d.line AND d.n > 1
RETURNING s.line, s.raw_email, 'duplicate employee_id ' || s.employee_id || ': first used on line ' || d.first`

// A forgotten person's address survives only as a hash: it must never come
// back. sha256 of the lower-cased address matches store.HashEmail.
const sqlRejectForgotten = `
DELETE FROM roster_stage s
USING suppressions p
WHERE p.email_hash = sha256(convert_to(s.email, 'UTF8')) AND p.reason = 'forgotten'
RETURNING s.line, s.raw_email, $1::text`

// employee_id is unique: a row may not take the id of another person.
const sqlRejectTakenEmployeeIDs = `
DELETE FROM roster_stage s
USING alumni a
WHERE a.employee_id = s.employee_id AND a.email IS DISTINCT FROM s.email
RETURNING s.line, s.raw_email, 'employee_id ' || s.employee_id || ' already belongs to another alumnus'`

// sqlUpsert merges each staged row with the stored one in the SELECT (an
// empty cell keeps the stored value), so that EXCLUDED carries the final
// values and the update can skip rows that would not change. Status is set
// only for new people (from the suppression list) and never touched on
// update: an import re-activates nobody. $1 is the import time, $2 the
// default consent source.
const sqlUpsert = `
WITH up AS (
    INSERT INTO alumni AS t (email, family_name, given_name, family_name_kana, given_name_kana,
        employee_id, department, joined_on, left_on, locale, timezone, tags,
        consent, consented_at, consent_source, status, status_changed_at)
    SELECT s.email,
        COALESCE(s.family_name, a.family_name, ''),
        COALESCE(s.given_name, a.given_name, ''),
        COALESCE(s.family_name_kana, a.family_name_kana, ''),
        COALESCE(s.given_name_kana, a.given_name_kana, ''),
        COALESCE(s.employee_id, a.employee_id),
        COALESCE(s.department, a.department, ''),
        COALESCE(s.joined_on, a.joined_on),
        COALESCE(s.left_on, a.left_on),
        COALESCE(s.locale, a.locale, 'ja'),
        COALESCE(s.timezone, a.timezone, 'Asia/Tokyo'),
        COALESCE(s.tags, a.tags, '{}'),
        COALESCE(s.consent, a.consent, false),
        CASE WHEN s.consented_at IS NOT NULL THEN s.consented_at
             WHEN s.consent AND (NOT COALESCE(a.consent, false) OR a.consented_at IS NULL) THEN $1::timestamptz
             ELSE a.consented_at END,
        CASE WHEN s.consent_source IS NOT NULL THEN s.consent_source
             WHEN s.consent AND (NOT COALESCE(a.consent, false) OR COALESCE(a.consent_source, '') = '') THEN $2::text
             ELSE COALESCE(a.consent_source, '') END,
        CASE p.reason WHEN 'unsubscribed' THEN 'unsubscribed' WHEN 'bounced' THEN 'bounced' ELSE 'active' END,
        CASE WHEN p.reason IS NOT NULL THEN $1::timestamptz END
    FROM roster_stage s
    LEFT JOIN alumni a ON a.email = s.email
    LEFT JOIN suppressions p ON a.id IS NULL AND p.email_hash = sha256(convert_to(s.email, 'UTF8'))
    ORDER BY s.line -- new people get ids in file order, which export keeps
    ON CONFLICT (email) DO UPDATE SET
        family_name = EXCLUDED.family_name, given_name = EXCLUDED.given_name,
        family_name_kana = EXCLUDED.family_name_kana, given_name_kana = EXCLUDED.given_name_kana,
        employee_id = EXCLUDED.employee_id, department = EXCLUDED.department,
        joined_on = EXCLUDED.joined_on, left_on = EXCLUDED.left_on,
        locale = EXCLUDED.locale, timezone = EXCLUDED.timezone, tags = EXCLUDED.tags,
        consent = EXCLUDED.consent, consented_at = EXCLUDED.consented_at,
        consent_source = EXCLUDED.consent_source, updated_at = now()
    WHERE (t.family_name, t.given_name, t.family_name_kana, t.given_name_kana, t.employee_id,
           t.department, t.joined_on, t.left_on, t.locale, t.timezone, t.tags,
           t.consent, t.consented_at, t.consent_source)
        IS DISTINCT FROM
          (EXCLUDED.family_name, EXCLUDED.given_name, EXCLUDED.family_name_kana, EXCLUDED.given_name_kana,
           EXCLUDED.employee_id, EXCLUDED.department, EXCLUDED.joined_on, EXCLUDED.left_on,
           EXCLUDED.locale, EXCLUDED.timezone, EXCLUDED.tags,
           EXCLUDED.consent, EXCLUDED.consented_at, EXCLUDED.consent_source)
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up`
