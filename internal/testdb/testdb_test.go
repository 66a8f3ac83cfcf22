package testdb

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/internal/store"
)

// exists reports whether the server has a database called name.
func exists(t *testing.T, name string) bool {
	t.Helper()
	ctx := context.Background()
	admin, err := store.Open(ctx, AdminURL())
	if err != nil {
		t.Skipf("no test Postgres: %v", err)
	}
	defer admin.Close()
	var ok bool
	if err := admin.GetContext(ctx, &ok, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name); err != nil {
		t.Fatal(err)
	}
	return ok
}

// Every database New creates carries the prefix, and when the last test
// using them ends, the database and the template it was cloned from are gone.
func TestEveryDatabaseHasThePrefixAndIsDropped(t *testing.T) {
	var names []string
	t.Run("user", func(t *testing.T) {
		a, b := New(t), New(t)
		names = []string{a.Name, b.Name, a.Template, b.Template}
		for _, n := range names {
			if !strings.HasPrefix(n, Prefix) {
				t.Errorf("database %q does not start with %q", n, Prefix)
			}
			if !exists(t, n) {
				t.Errorf("database %q does not exist while in use", n)
			}
		}
		if a.Template != b.Template {
			t.Errorf("two databases of one process were cloned from two templates: %s, %s", a.Template, b.Template)
		}
	})
	for _, n := range names {
		if exists(t, n) {
			t.Errorf("database %q outlived the tests that used it", n)
		}
	}
}

// Databases and templates left by a killed test process are dropped once
// they are old; recent ones (another process's, in use) are left alone.
func TestSweepDropsOldLeftovers(t *testing.T) {
	ctx := context.Background()
	admin, err := store.Open(ctx, AdminURL())
	if err != nil {
		t.Skipf("no test Postgres: %v", err)
	}
	defer admin.Close()
	old := time.Now().Add(-abandonedAfter - time.Hour).Unix()
	oldDB := fmt.Sprintf("%s%d_%s", Prefix, old, randomHex(4))
	oldTmpl := fmt.Sprintf("%s%d_%s_tmpl", Prefix, old, randomHex(4))
	recent := newName("")
	for _, n := range []string{oldDB, oldTmpl, recent} {
		if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+n); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { dropDatabase(context.Background(), admin, n) })
	}
	if _, err := admin.ExecContext(ctx, `ALTER DATABASE `+oldTmpl+` WITH is_template true`); err != nil {
		t.Fatal(err)
	}

	sweepAbandoned(ctx, admin, time.Now())

	for _, n := range []string{oldDB, oldTmpl} {
		if exists(t, n) {
			t.Errorf("the sweep left the abandoned database %s", n)
		}
	}
	if !exists(t, recent) {
		t.Errorf("the sweep dropped %s, created moments ago", recent)
	}
}
