// Package store owns Kizuna's Postgres connection and schema migrations.
// Postgres is the single source of truth; other packages run their queries
// through the *sqlx.DB it opens.
package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq" // the Postgres driver

	"github.com/kizuna-alumni/kizuna/migrations"
)

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// Open connects to Postgres and checks the connection. Errors never carry
// the URL's password.
func Open(ctx context.Context, databaseURL string) (*sqlx.DB, error) {
	db, err := sqlx.Open("postgres", withDefaults(databaseURL))
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", hostOf(databaseURL), err)
	}
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(10)
	db.SetConnMaxIdleTime(5 * time.Minute)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		if isMissingDatabase(err) {
			return nil, fmt.Errorf("connect to database %s: %w (kizuna migrate creates it)", hostOf(databaseURL), err)
		}
		return nil, fmt.Errorf("connect to database %s: %w", hostOf(databaseURL), err)
	}
	return db, nil
}

// SQLSTATE codes, from the PostgreSQL manual, Appendix A "PostgreSQL Error
// Codes".
const (
	codeInvalidCatalogName = "3D000" // the database does not exist
	codeDuplicateDatabase  = "42P04" // CREATE DATABASE of one that exists
	// codeUniqueViolation is what a CREATE DATABASE that races another one
	// of the same name gets (pg_database_datname_index).
	codeUniqueViolation       = "23505"
	codeInsufficientPrivilege = "42501"
)

// sqlState returns err's SQLSTATE, or "" when it is not a server error.
func sqlState(err error) string {
	var e interface{ SQLState() string }
	if errors.As(err, &e) {
		return e.SQLState()
	}
	return ""
}

func isMissingDatabase(err error) bool { return sqlState(err) == codeInvalidCatalogName }

// CreateDatabase makes sure the database that databaseURL (a postgres://
// URL) names exists. When the server answers that it does not (SQLSTATE
// 3D000), it connects with the same credentials to the server's "postgres"
// maintenance database (or "template1") and runs CREATE DATABASE with the
// server's defaults. It returns the database's name and whether this call
// created it: false when it was already there, or when another process
// created it at the same moment. A user without the CREATEDB privilege gets
// an error saying how to create it by hand. Errors never carry the
// password.
func CreateDatabase(ctx context.Context, databaseURL string) (name string, created bool, err error) {
	db, err := Open(ctx, databaseURL)
	if err == nil {
		db.Close()
		return databaseName(databaseURL), false, nil
	}
	name = databaseName(databaseURL)
	if !isMissingDatabase(err) || name == "" {
		return name, false, err
	}
	u, _ := url.Parse(databaseURL) // databaseName parsed it already
	var admin *sqlx.DB
	var adminErr error
	for _, maint := range []string{"postgres", "template1"} {
		u.Path = "/" + maint
		if admin, adminErr = Open(ctx, u.String()); adminErr == nil {
			break
		}
	}
	if adminErr != nil {
		return name, false, fmt.Errorf("database %q does not exist, and creating it needs a connection to the server's postgres database: %w", name, adminErr)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+pq.QuoteIdentifier(name)); err != nil {
		switch sqlState(err) {
		case codeDuplicateDatabase, codeUniqueViolation:
			return name, false, nil
		case codeInsufficientPrivilege:
			return name, false, fmt.Errorf("database %q does not exist and this user may not create it: create it once as a user who may (createdb %s, or CREATE DATABASE), then run kizuna migrate again: %w", name, name, err)
		}
		return name, false, fmt.Errorf("create database %q: %w", name, err)
	}
	return name, true, nil
}

// databaseName is the database a postgres:// URL names (its path), or ""
// when the URL names none or is not a URL.
func databaseName(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return ""
	}
	return strings.TrimPrefix(u.Path, "/")
}

// withDefaults sets sslmode=disable for loopback hosts when it is not given,
// since lib/pq's default differs between versions.
func withDefaults(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return raw
	}
	q := u.Query()
	if q.Get("sslmode") == "" {
		h := u.Hostname()
		if h == "" || h == "localhost" || strings.HasPrefix(h, "127.") || h == "::1" || strings.HasPrefix(h, "/") {
			q.Set("sslmode", "disable")
			u.RawQuery = q.Encode()
		}
	}
	return u.String()
}

// hostOf names the database without any credentials, for error messages.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Host + u.Path
}

// migrationLockKey is the pg_advisory_lock key that serialises migrations
// across processes ("kizuna-migrate").
const migrationLockKey = 0x6b697a756e61

// Migrate applies every embedded migration not yet recorded, each in its own
// transaction, under an advisory lock so that several processes may run it at
// once. It returns the names it applied.
func Migrate(ctx context.Context, db *sqlx.DB) ([]string, error) {
	conn, err := db.Connx(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLockKey); err != nil {
		return nil, fmt.Errorf("migrate: take lock: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLockKey)

	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name text PRIMARY KEY,
		checksum text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	applied := map[string]string{}
	rows, err := conn.QueryContext(ctx, `SELECT name, checksum FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	for rows.Next() {
		var name, sum string
		if err := rows.Scan(&name, &sum); err != nil {
			rows.Close()
			return nil, fmt.Errorf("migrate: %w", err)
		}
		applied[name] = sum
	}
	rows.Close()

	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	sort.Strings(names)
	var done []string
	for _, name := range names {
		body, err := migrations.FS.ReadFile(name)
		if err != nil {
			return done, fmt.Errorf("migrate %s: %w", name, err)
		}
		sum := fmt.Sprintf("%x", sha256.Sum256(body))
		if old, ok := applied[name]; ok {
			if old != sum {
				return done, fmt.Errorf("migrate %s: the file changed after it was applied (migrations are forward-only: add a new file)", name)
			}
			continue
		}
		tx, err := conn.BeginTxx(ctx, nil)
		if err != nil {
			return done, fmt.Errorf("migrate %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return done, fmt.Errorf("migrate %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)`, name, sum); err != nil {
			tx.Rollback()
			return done, fmt.Errorf("migrate %s: record: %w", name, err)
		}
		if err := tx.Commit(); err != nil {
			return done, fmt.Errorf("migrate %s: commit: %w", name, err)
		}
		done = append(done, name)
	}
	return done, nil
}

// HashEmail is the suppression key of an address: SHA-256 of its trimmed,
// lower-cased form.
func HashEmail(email string) []byte {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
	return sum[:]
}

// InTx runs fn in a transaction of db and commits it when fn returns nil;
// otherwise it rolls back and returns fn's error.
func InTx(ctx context.Context, db *sqlx.DB, fn func(*sqlx.Tx) error) error {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}
