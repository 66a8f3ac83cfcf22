package store_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// owners names the one package that owns each table: only it writes the
// table, and every other package calls its verbs (ARCHITECTURE.md).
var owners = map[string]string{
	"alumni":              "internal/roster",
	"suppressions":        "internal/roster",
	"campaigns":           "internal/runs",
	"campaign_versions":   "internal/runs",
	"runs":                "internal/runs",
	"deliveries":          "internal/runs",
	"send_leases":         "internal/runs",
	"delivery_events":     "internal/runs",
	"rsvps":               "internal/runs",
	"run_holds":           "internal/runs",
	"run_requeue_replies": "internal/runs",
	"schedule_sightings":  "internal/scheduler",
	"skipped_occurrences": "internal/scheduler",
	"inbound_messages":    "internal/inbound",
	"inbound_forwards":    "internal/inbound",
}

// reads are the places where a package reads a table it does not own,
// each for a reason; they never write it.
var reads = map[string]map[string]string{
	"internal/runs": {
		"alumni":       "a claim reads its recipients and an expansion selects its audience in the same statement; the attendee list reads the names of those who answered, the dashboard's replies those who replied",
		"suppressions": "the same: a suppressed address is never claimed or expanded",
	},
	"internal/scheduler": {
		"runs": "a skipped occurrence that got a run since is neither recorded nor shown",
	},
}

var (
	sqlLiteral = regexp.MustCompile("`[^`]*`|\"(?:[^\"\\\\\n]|\\\\.)*\"")
	// SQL keywords are upper case in this code base, which keeps prose
	// ("runs from the scheduler") out of the match.
	tableRef   = regexp.MustCompile(`\b(FROM|JOIN|UPDATE|INTO|TRUNCATE|COPY)\s+([a-z_]+)`)
	tableWrite = regexp.MustCompile(`\b(UPDATE|INSERT\s+INTO|DELETE\s+FROM|TRUNCATE|COPY)\s+([a-z_]+)`)
)

// TestEveryTableHasOneOwner fails when SQL naming a table appears outside
// its owner: a write anywhere else, or a read not listed in reads.
func TestEveryTableHasOneOwner(t *testing.T) {
	t.Parallel()
	var problems []string
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(repoRoot, path)
		pkg := filepath.ToSlash(filepath.Dir(rel))
		if pkg == "internal/testdb" {
			return nil // creates and drops test databases; owns no table
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, lit := range sqlLiteral.FindAllString(string(src), -1) {
			q := strings.Trim(lit, "`\"")
			written := map[string]bool{}
			for _, m := range tableWrite.FindAllStringSubmatch(q, -1) {
				written[strings.ToLower(m[2])] = true
			}
			for _, m := range tableRef.FindAllStringSubmatch(q, -1) {
				table := strings.ToLower(m[2])
				owner, known := owners[table]
				if !known || owner == pkg {
					continue
				}
				switch {
				case written[table]:
					problems = append(problems, rel+": writes "+table+" (owned by "+owner+")")
				case reads[pkg][table] == "":
					problems = append(problems, rel+": reads "+table+" (owned by "+owner+"; not a listed read)")
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(problems)
	problems = compact(problems)
	for _, p := range problems {
		t.Error(p)
	}
}

func compact(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// deletesAlumniOrRuns matches SQL that removes rows of alumni or runs.
var deletesAlumniOrRuns = regexp.MustCompile(`(?i)\b(DELETE\s+FROM|TRUNCATE(\s+TABLE)?(\s+ONLY)?)\s+(alumni|runs)\b`)

// TestNothingDeletesAlumniOrRuns guards migration 0018, which dropped the
// foreign keys of deliveries to runs and alumni: no SQL of the program or
// of a migration may delete or truncate either table (a person is
// forgotten by erasing their fields; a run is never removed).
func TestNothingDeletesAlumniOrRuns(t *testing.T) {
	t.Parallel()
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		sql := strings.HasSuffix(path, ".sql")
		if d.IsDir() || !(sql || strings.HasSuffix(path, ".go")) || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		texts := []string{string(src)}
		if !sql {
			texts = sqlLiteral.FindAllString(string(src), -1)
		}
		for _, q := range texts {
			if m := deletesAlumniOrRuns.FindString(q); m != "" {
				rel, _ := filepath.Rel(repoRoot, path)
				t.Errorf("%s: %q: deliveries reference alumni and runs without a foreign key (migration 0018); nothing may delete them", rel, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !deletesAlumniOrRuns.MatchString("DELETE FROM alumni WHERE id = 1") || !deletesAlumniOrRuns.MatchString("truncate table runs") ||
		deletesAlumniOrRuns.MatchString("DELETE FROM run_holds") {
		t.Fatal("the pattern does not tell deleting alumni or runs from other tables")
	}
}
