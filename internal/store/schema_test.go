package store_test

import (
	"fmt"
	"go/ast"
	"go/constant"
	"go/parser"
	"go/token"
	"go/types"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kizuna-alumni/kizuna/internal/inbound"
	"github.com/kizuna-alumni/kizuna/internal/roster"
	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
)

// repoRoot is the module's root, two folders up from this package.
const repoRoot = "../.."

// namedQueries returns every named query of the owners: the string
// constants whose names start with "q" in each package's queries.go,
// evaluated (they may be built from other constants of the same file). A
// "qt" constant is a template whose %s stands for a boolean condition; it
// is returned with "true" there.
func namedQueries(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || d.Name() != "queries.go" {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		if len(f.Imports) != 0 {
			t.Errorf("%s imports packages: a queries.go holds constants only", path)
			return nil
		}
		pkg, err := new(types.Config).Check(f.Name.Name, fset, []*ast.File{f}, nil)
		if err != nil {
			return err
		}
		for _, name := range pkg.Scope().Names() {
			c, ok := pkg.Scope().Lookup(name).(*types.Const)
			if !ok || !strings.HasPrefix(name, "q") || c.Val().Kind() != constant.String {
				continue
			}
			q := constant.StringVal(c.Val())
			if strings.HasPrefix(name, "qt") {
				q = fmt.Sprintf(q, "true")
			}
			out[filepath.Dir(path)+"."+name] = q
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestNamedQueriesPrepare prepares every named query against the migrated
// schema: a misspelt table, column or type fails here, not in production.
// Each package's queries are prepared in one transaction after its
// qCreate… statements ran (the roster import's staging table lives only in
// its transaction); COPY cannot be prepared and is left to the import tests.
func TestNamedQueriesPrepare(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	qs := namedQueries(t)
	if len(qs) < 60 {
		t.Fatalf("found only %d named queries; is the walk finding the queries.go files?", len(qs))
	}
	byDir := map[string][]string{}
	for name := range qs {
		dir := name[:strings.LastIndexByte(name, '.')]
		byDir[dir] = append(byDir[dir], name)
	}
	for dir, names := range byDir {
		slices.Sort(names)
		tx, err := db.Beginx()
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			if strings.HasPrefix(name[len(dir)+1:], "qCreate") {
				if _, err := tx.Exec(qs[name]); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
		}
		for _, name := range names {
			short := name[len(dir)+1:]
			if strings.HasPrefix(short, "qCreate") || strings.HasPrefix(strings.TrimSpace(qs[name]), "COPY") {
				continue
			}
			st, err := tx.Preparex(qs[name])
			if err != nil {
				t.Errorf("%s: %v", name, err)
				tx.Rollback()
				if tx, err = db.Beginx(); err != nil {
					t.Fatal(err)
				}
				continue
			}
			st.Close()
		}
		tx.Rollback()
	}
}

// checkValues returns the quoted values of a column's CHECK (… IN (…))
// constraint.
func checkValues(t *testing.T, db *testdb.DB, table, column string) []string {
	t.Helper()
	var defs []string
	if err := db.Select(&defs, `SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c
		WHERE c.conrelid = $1::regclass AND c.contype = 'c'`, table); err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`'([^']*)'::text`)
	for _, d := range defs {
		if !regexp.MustCompile(`\(+` + column + ` = ANY`).MatchString(d) {
			continue
		}
		var vals []string
		for _, m := range re.FindAllStringSubmatch(d, -1) {
			vals = append(vals, m[1])
		}
		slices.Sort(vals)
		return vals
	}
	t.Fatalf("no CHECK constraint lists the values of %s.%s", table, column)
	return nil
}

// TestStateNamesMatchTheSchema: the state names defined once in Go are
// exactly the values the schema's CHECK constraints allow.
func TestStateNamesMatchTheSchema(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	for _, c := range []struct {
		table, column string
		names         []string
	}{
		{"runs", "state", runs.RunStates},
		{"deliveries", "state", runs.DeliveryStates},
		{"run_holds", "reason", runs.HoldReasons},
		{"alumni", "status", roster.Statuses},
		{"suppressions", "reason", roster.SuppressReasons},
		{"alumni", "mail_kinds", roster.MailKinds},
		{"runs", "kind", runs.RunKinds},
		{"deliveries", "notice", runs.Notices},
		{"inbound_messages", "source", inbound.Sources},
	} {
		want := slices.Sorted(slices.Values(c.names))
		if got := checkValues(t, db, c.table, c.column); !slices.Equal(got, want) {
			t.Errorf("%s.%s: the schema allows %v, Go names %v", c.table, c.column, got, want)
		}
	}
}
