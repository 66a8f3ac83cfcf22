package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
)

// importExampleRoster imports examples/alumni.csv into a fresh database.
func importExampleRoster(t *testing.T) (*testdb.DB, map[string]string) {
	t.Helper()
	db := testdb.New(t)
	env := map[string]string{"KIZUNA_DATABASE_URL": db.URL}
	if code, _, errOut := runApp(t, env, "alumni", "import", filepath.Join("..", "..", "examples", "alumni.csv")); code != 0 {
		t.Fatalf("import examples/alumni.csv: exit %d: %s", code, errOut)
	}
	return db, env
}

// Every example campaign reaches someone in the example roster, counted with
// the audience query that runs use (runs.Reach compiles the same filter
// as the run expansion).
func TestEveryExampleCampaignReachesTheExampleRoster(t *testing.T) {
	t.Parallel()
	db, _ := importExampleRoster(t)
	files, err := filepath.Glob(filepath.Join(examplesCampaigns, "*.yaml"))
	if err != nil || len(files) < 2 {
		t.Fatalf("example campaigns: %v %v", files, err)
	}
	for _, f := range files {
		if filepath.Base(f) == "kizuna.yaml" {
			continue
		}
		c, problems := campaigns.LoadFile(f)
		if len(problems) > 0 || c == nil {
			t.Errorf("%s: %v", f, problems)
			continue
		}
		n, err := runs.Reach(context.Background(), db.DB, c)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Errorf("%s (audience %+v) reaches nobody in examples/alumni.csv", c.ID, c.Audience)
		}
	}
}

// The README's ten-minute tour names alumni that are in the example roster,
// so that every command of it works as written. you@example.co.jp is the
// reader's own address (send-test --to takes any address).
func TestReadmeTourAddressesAreInTheExampleRoster(t *testing.T) {
	t.Parallel()
	_, env := importExampleRoster(t)
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	start := strings.Index(text, "## A ten-minute tour")
	if start < 0 {
		t.Fatal("README.md has no \"## A ten-minute tour\" section")
	}
	tour := text[start+1:]
	tour = tour[:strings.Index(tour, "\n## ")]
	seen := map[string]bool{}
	for _, addr := range regexp.MustCompile(`[a-z0-9.+-]+@example\.[a-z.]+`).FindAllString(tour, -1) {
		if addr == "you@example.co.jp" || seen[addr] {
			continue
		}
		seen[addr] = true
		if code, _, errOut := runApp(t, env, "alumni", "show", addr); code != 0 {
			t.Errorf("the tour names %s, which is not in examples/alumni.csv: exit %d %s", addr, code, strings.TrimSpace(errOut))
		}
	}
	if len(seen) == 0 {
		t.Error("found no address in the tour")
	}
}
