package store_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/internal/store"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
)

// Running migrate again applies nothing and keeps the data.
func TestMigrateIsIdempotent(t *testing.T) {
	db := testdb.New(t)
	ctx := context.Background()
	testdb.Alumni(t, db, testdb.Alumnus{Email: "keep@example.jp"})
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

// Several processes creating the same missing database at once (kizuna
// migrate is safe to run concurrently): exactly one creates it, nobody fails.
func TestCreateDatabaseConcurrently(t *testing.T) {
	ctx := context.Background()
	admin, err := store.Open(ctx, testdb.AdminURL())
	if err != nil {
		t.Skipf("no test Postgres: %v", err)
	}
	defer admin.Close()
	name := fmt.Sprintf("%s%d_create%d", testdb.Prefix, time.Now().Unix(), time.Now().UnixNano()%1e6)
	t.Cleanup(func() { admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`) })
	u, err := url.Parse(testdb.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	const n = 4
	var wg sync.WaitGroup
	created := make([]bool, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var got string
			got, created[i], errs[i] = store.CreateDatabase(ctx, u.String())
			if errs[i] == nil && got != name {
				errs[i] = fmt.Errorf("name %q, want %q", got, name)
			}
		}(i)
	}
	wg.Wait()
	count := 0
	for i := range errs {
		if errs[i] != nil {
			t.Errorf("CreateDatabase %d: %v", i, errs[i])
		}
		if created[i] {
			count++
		}
	}
	if count != 1 {
		t.Errorf("%d calls say they created the database, want exactly 1", count)
	}
}
