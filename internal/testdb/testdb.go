// Package testdb gives tests a freshly created, fully migrated Postgres
// database of their own, dropped when the test ends. It talks to the real
// server named by KIZUNA_TEST_DATABASE_URL (default: the local server as
// user postgres). Databases are cloned from a migrated template, so a new one
// costs a CREATE DATABASE, not a migration run.
package testdb

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/kizuna-alumni/kizuna/internal/store"
	"github.com/kizuna-alumni/kizuna/migrations"
)

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

	template, err := ensureTemplate(ctx, admin)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	sweepOnce.Do(func() { sweepAbandoned(ctx, admin) })
	// The creation time in the name lets later runs drop databases that a
	// killed test process left behind.
	name := fmt.Sprintf("kizuna_test_%d_%s", time.Now().Unix(), randomHex(4))
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
		if _, err := admin.ExecContext(dropCtx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name)); err != nil {
			t.Logf("testdb: drop %s: %v", name, err)
		}
	})
	return &DB{DB: db, URL: dbURL, Name: name}
}

var sweepOnce sync.Once

// abandonedAfter is how old a test database must be before it counts as
// left behind by a killed test process (no test runs this long).
const abandonedAfter = 2 * time.Hour

// sweepAbandoned drops test databases created more than abandonedAfter ago,
// and those of an older naming without a creation time.
func sweepAbandoned(ctx context.Context, admin *sqlx.DB) {
	var names []string
	if err := admin.SelectContext(ctx, &names, `SELECT datname FROM pg_database WHERE datname LIKE 'kizuna\_test\_%'`); err != nil {
		return
	}
	for _, n := range names {
		parts := strings.Split(n, "_") // kizuna, test, unix time, random
		if len(parts) == 4 {
			if created, err := strconv.ParseInt(parts[2], 10, 64); err == nil && time.Since(time.Unix(created, 0)) < abandonedAfter {
				continue
			}
		}
		admin.ExecContext(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, pq.QuoteIdentifier(n)))
	}
}

// ensureTemplate creates (once per migration set) a migrated database to
// clone from. Its name carries a digest of the migrations, so a changed
// migration gets a new template.
func ensureTemplate(ctx context.Context, admin *sqlx.DB) (string, error) {
	digest, err := migrationsDigest()
	if err != nil {
		return "", err
	}
	name := "kizuna_tmpl_" + digest[:12]
	conn, err := admin.Connx(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	// Serialise template creation across test processes.
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(7316)`); err != nil {
		return "", err
	}
	defer conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock(7316)`)
	var ok bool
	if err := conn.GetContext(ctx, &ok, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate)`, name); err != nil {
		return "", err
	}
	if ok {
		return name, nil
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name)); err != nil {
		return "", err
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`CREATE DATABASE %s`, name)); err != nil {
		return "", fmt.Errorf("create template: %w", err)
	}
	tdb, err := store.Open(ctx, withDatabase(AdminURL(), name))
	if err != nil {
		return "", err
	}
	_, err = store.Migrate(ctx, tdb)
	tdb.Close()
	if err != nil {
		return "", fmt.Errorf("migrate template: %w", err)
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`ALTER DATABASE %s WITH is_template true`, name)); err != nil {
		return "", err
	}
	return name, nil
}

func migrationsDigest() (string, error) {
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		return "", err
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		b, err := migrations.FS.ReadFile(n)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
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
