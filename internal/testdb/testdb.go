// Package testdb gives tests a freshly created, fully migrated Postgres
// database of their own, dropped when the test ends. It talks to the real
// server named by KIZUNA_TEST_DATABASE_URL (default: the local server as
// user postgres).
//
// Every database it creates is named with Prefix and its creation time
// (kizuna_test_<unix seconds>_<random>), so nothing else on the server is
// ever touched. Databases are cloned from a migrated template of the test
// process (kizuna_test_<unix>_<random>_tmpl), so a new one costs a CREATE
// DATABASE, not a migration run; the template is dropped with the last
// database cloned from it. Databases and templates that a killed test
// process left behind are dropped by the next test process once they are
// older than abandonedAfter.
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/kizuna-alumni/kizuna/internal/store"
)

// Prefix starts the name of every database this package creates, templates
// included; nothing else on the server is created or dropped.
const Prefix = "kizuna_test_"

// AdminURL is the maintenance database URL used to create and drop test databases.
func AdminURL() string {
	if v := os.Getenv("KIZUNA_TEST_DATABASE_URL"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// DB is a test database: an open handle and the URL other processes (the
// real binary in end-to-end tests) can use to reach it.
type DB struct {
	*sqlx.DB
	URL  string
	Name string
	// Template is the database Name was cloned from, dropped once no
	// database of this test process uses it any more.
	Template string
}

// New creates a fresh migrated database for t and drops it when t ends.
func New(t testing.TB) *DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := store.Open(ctx, AdminURL())
	if err != nil {
		t.Fatalf("testdb: the test Postgres is not reachable (start it, or set KIZUNA_TEST_DATABASE_URL): %v", err)
	}
	defer admin.Close()

	sweepOnce.Do(func() { sweepAbandoned(ctx, admin, time.Now()) })
	template, err := acquireTemplate(ctx, admin)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	t.Cleanup(releaseTemplate) // runs after the drop of the database below
	name := newName("")
	var lastErr error
	for attempt := 0; attempt < 20; attempt++ {
		_, lastErr = admin.ExecContext(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`, name, template))
		if lastErr == nil || !strings.Contains(lastErr.Error(), "being accessed by other users") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if lastErr != nil {
		t.Fatalf("testdb: create database: %v", lastErr)
	}
	dbURL := withDatabase(AdminURL(), name)
	db, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	t.Cleanup(func() {
		db.Close()
		dropCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := store.Open(dropCtx, AdminURL())
		if err != nil {
			t.Logf("testdb: drop %s: %v", name, err)
			return
		}
		defer admin.Close()
		if err := dropDatabase(dropCtx, admin, name); err != nil {
			t.Logf("testdb: drop %s: %v", name, err)
		}
	})
	return &DB{DB: db, URL: dbURL, Name: name, Template: template}
}

// newName is a fresh database name: Prefix, the creation time (which lets
// later runs drop what a killed test process left behind), a random part
// and suffix.
func newName(suffix string) string {
	return fmt.Sprintf("%s%d_%s%s", Prefix, time.Now().Unix(), randomHex(4), suffix)
}

var sweepOnce sync.Once

// abandonedAfter is how old a test database must be before it counts as
// left behind by a killed test process (no test runs this long).
const abandonedAfter = 2 * time.Hour

// sweepAbandoned drops the test databases and templates created more than
// abandonedAfter before now, and those of an older naming without a
// creation time.
func sweepAbandoned(ctx context.Context, admin *sqlx.DB, now time.Time) {
	var names []string
	if err := admin.SelectContext(ctx, &names, `SELECT datname FROM pg_database WHERE datname LIKE 'kizuna\_test\_%'`); err != nil {
		return
	}
	for _, n := range names {
		parts := strings.Split(n, "_") // kizuna, test, unix time, random[, tmpl]
		if len(parts) >= 4 {
			if created, err := strconv.ParseInt(parts[2], 10, 64); err == nil && now.Sub(time.Unix(created, 0)) < abandonedAfter {
				continue
			}
		}
		dropDatabase(ctx, admin, n)
	}
}

// dropDatabase drops the database name, a template too, closing the
// connections to it.
func dropDatabase(ctx context.Context, admin *sqlx.DB, name string) error {
	q := pq.QuoteIdentifier(name)
	admin.ExecContext(ctx, `ALTER DATABASE `+q+` WITH is_template false`) // fails harmlessly when it is gone
	_, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+q+` WITH (FORCE)`)
	return err
}

// template is this test process's migrated template and the number of
// tests holding it.
var tmpl struct {
	mu    sync.Mutex
	name  string
	users int
}

// acquireTemplate returns this process's migrated template, creating it
// when no test holds it; each call is paired with one releaseTemplate.
func acquireTemplate(ctx context.Context, admin *sqlx.DB) (string, error) {
	tmpl.mu.Lock()
	defer tmpl.mu.Unlock()
	if tmpl.name == "" {
		name := newName("_tmpl")
		if err := createTemplate(ctx, admin, name); err != nil {
			dropDatabase(context.WithoutCancel(ctx), admin, name)
			return "", err
		}
		tmpl.name = name
	}
	tmpl.users++
	return tmpl.name, nil
}

// releaseTemplate drops the template when its last user let it go.
func releaseTemplate() {
	tmpl.mu.Lock()
	defer tmpl.mu.Unlock()
	tmpl.users--
	if tmpl.users > 0 || tmpl.name == "" {
		return
	}
	name := tmpl.name
	tmpl.name = ""
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := store.Open(ctx, AdminURL())
	if err != nil {
		return // the next test process drops it once it is old
	}
	defer admin.Close()
	dropDatabase(ctx, admin, name)
}

// createTemplate creates and migrates the template database name.
func createTemplate(ctx context.Context, admin *sqlx.DB, name string) error {
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+pq.QuoteIdentifier(name)); err != nil {
		return fmt.Errorf("create template: %w", err)
	}
	tdb, err := store.Open(ctx, withDatabase(AdminURL(), name))
	if err != nil {
		return err
	}
	_, err = store.Migrate(ctx, tdb)
	tdb.Close()
	if err != nil {
		return fmt.Errorf("migrate template: %w", err)
	}
	if _, err := admin.ExecContext(ctx, `ALTER DATABASE `+pq.QuoteIdentifier(name)+` WITH is_template true`); err != nil {
		return err
	}
	return nil
}

func withDatabase(raw, name string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Path = "/" + name
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
