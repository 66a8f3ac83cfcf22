package roster

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/internal/testdb"
)

// fixedNow is the clock of the store tests.
var fixedNow = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func newTestStore(t *testing.T) (*Store, *testdb.DB) {
	t.Helper()
	db := testdb.New(t)
	return NewStore(db.DB, func() time.Time { return fixedNow }), db
}

func importString(t *testing.T, s *Store, csv string, opts ImportOptions) ImportResult {
	t.Helper()
	if opts.FileName == "" {
		opts.FileName = "roster.csv"
	}
	res, err := s.Import(context.Background(), strings.NewReader(csv), opts)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	return res
}

func TestImportSmoke(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	res := importString(t, s, "email,name,consent,tags,joined_on\nA@example.com,山田 太郎,yes,a;b,2001/4/1\nb@example.com,Bob,no,,\n", ImportOptions{})
	t.Logf("%+v", res)
	res = importString(t, s, "email,name,consent,tags,joined_on\nA@example.com,山田 太郎,yes,a;b,2001/4/1\nb@example.com,Bob Smith,no,,\n", ImportOptions{})
	t.Logf("%+v", res)
}
