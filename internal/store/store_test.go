package store_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/kizuna-alumni/kizuna/internal/store"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
)

// Running migrate again applies nothing and keeps the data.
func TestMigrateIsIdempotent(t *testing.T) {
	db := testdb.New(t)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `INSERT INTO alumni (email) VALUES ('keep@example.jp')`); err != nil {
		t.Fatal(err)
	}
	applied, err := store.Migrate(ctx, db.DB)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 0 {
		t.Fatalf("second migrate applied %v", applied)
	}
	var n int
	db.GetContext(ctx, &n, `SELECT count(*) FROM alumni`)
	if n != 1 {
		t.Fatalf("alumni rows = %d after re-migrate", n)
	}
}

// Several processes migrating an empty database at once: each migration is
// applied exactly once and nobody fails.
func TestMigrateConcurrently(t *testing.T) {
	db := testdb.New(t)
	ctx := context.Background()
	// Start from an empty schema.
	if _, err := db.ExecContext(ctx, `DROP SCHEMA public CASCADE; CREATE SCHEMA public`); err != nil {
		t.Fatal(err)
	}
	const n = 6
	var wg sync.WaitGroup
	results := make([][]string, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			conn, err := store.Open(ctx, db.URL)
			if err != nil {
				errs[i] = err
				return
			}
			defer conn.Close()
			results[i], errs[i] = store.Migrate(ctx, conn)
		}(i)
	}
	wg.Wait()
	total := 0
	for i := range errs {
		if errs[i] != nil {
			t.Fatalf("migrator %d: %v", i, errs[i])
		}
		total += len(results[i])
	}
	var recorded int
	db.GetContext(ctx, &recorded, `SELECT count(*) FROM schema_migrations`)
	if total != recorded || recorded < 2 {
		t.Fatalf("applied %d times in all, %d recorded; want each migration once", total, recorded)
	}
}

// A migration edited after it was applied is refused, not re-run.
func TestMigrateRefusesChangedFile(t *testing.T) {
	db := testdb.New(t)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `UPDATE schema_migrations SET checksum = 'other' WHERE name = '0001_roster.sql'`); err != nil {
		t.Fatal(err)
	}
	_, err := store.Migrate(ctx, db.DB)
	if err == nil || !strings.Contains(err.Error(), "changed after it was applied") {
		t.Fatalf("err = %v", err)
	}
}

func TestOpenErrorHidesPassword(t *testing.T) {
	_, err := store.Open(context.Background(), "postgres://kizuna:pw-SECRET-123@127.0.0.1:1/kizuna")
	if err == nil {
		t.Fatal("connected to a closed port")
	}
	if strings.Contains(err.Error(), "pw-SECRET-123") {
		t.Fatalf("error leaks the password: %v", err)
	}
}

func TestHashEmailNormalises(t *testing.T) {
	a, b := store.HashEmail(" Taro@Example.JP "), store.HashEmail("taro@example.jp")
	if string(a) != string(b) || len(a) != 32 {
		t.Fatalf("hashes differ or wrong size: %x %x", a, b)
	}
}
