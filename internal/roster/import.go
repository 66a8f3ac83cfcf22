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
	if _, err := tx.ExecContext(ctx, qImportWorkMem); err != nil {
		return res, fmt.Errorf("import roster: %w", err)
	}
	if _, err := tx.ExecContext(ctx, qCreateStage); err != nil {
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
		{"duplicate emails", qRejectDuplicateEmails, nil},
		{"erased addresses", qRejectForgotten, []any{reasonForgotten}},
		{"employee ids of other people", qRejectTakenEmployeeIDs, nil},
		{"duplicate employee ids", qRejectDuplicateEmployeeIDs, nil},
	} {
		n, err := rejectStaged(ctx, tx, &res, step.query, step.args...)
		if err != nil {
			return res, fmt.Errorf("import roster: %s: %w", step.name, err)
		}
		staged -= n
	}

	lap(&res.Timing.Checks)
	source := "import:" + opts.FileName
	if err := tx.QueryRowxContext(ctx, qUpsert, now, source).Scan(&res.Imported, &res.Updated); err != nil {
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
	stmt, err := tx.PrepareContext(ctx, qCopyStage)
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

// stageValues orders a row's values as qCopyStage lists its columns; an
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
