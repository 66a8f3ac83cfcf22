package scheduler

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
)

// An automatic start does not block on empty values no fallback covers: the
// run starts, and one warning per run names the fields and counts. Covered
// fields are not warned about.
func TestAutomaticStartWarnsOnceAboutEmptyValues(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	f := newFixture(t, t0)
	ctx := context.Background()
	testdb.Alumni(t, f.db, testdb.Alumnus{Email: "a@example.jp", GivenName: "太郎", Locale: "ja", Consent: true},
		testdb.Alumnus{Email: "b@example.jp", Locale: "ja", Consent: true},
		testdb.Alumnus{Email: "c@example.jp", FamilyName: "佐藤", GivenName: "花子", Department: "開発部", Locale: "ja", Consent: true})
	f.put(&campaigns.Campaign{ID: "news", Kind: campaigns.KindNewsletter, Digest: "v1", Schedule: campaigns.Schedule{At: at(t0.Add(time.Hour))},
		Subject:  map[string]string{"ja": "{{.FamilyName}}様 {{.Department}}"},
		Template: campaigns.Template{Body: map[string]campaigns.Body{"ja": {Intros: []string{"こんにちは"}}}},
		Fallback: map[string]map[string]string{"ja": {"Department": "各部署"}},
		Audience: campaigns.Audience{Locales: []string{"ja"}, Consent: "required"}})
	s := f.scheduler()
	if _, err := s.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	s.Tick(ctx)
	f.clock.Set(t0.Add(time.Hour + 3*time.Second))
	s.Tick(ctx)
	s.Tick(ctx)
	s2 := f.scheduler() // a second scheduler finds the run started: no second warning
	if _, err := s2.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	s2.Tick(ctx)
	if r := f.runs("news"); len(r) != 1 {
		t.Fatalf("runs %+v, want one", r)
	}
	logs := f.logs.String()
	var warned []string
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "empty value") {
			warned = append(warned, line)
		}
	}
	if len(warned) != 1 {
		t.Fatalf("%d warnings about empty values, want 1:\n%s", len(warned), logs)
	}
	for _, want := range []string{"level=WARN", "campaign_id=news", "run=1", "2 recipients would get an empty {{.FamilyName}} (ja)"} {
		if !strings.Contains(warned[0], want) {
			t.Errorf("warning lacks %q: %s", want, warned[0])
		}
	}
	if strings.Contains(warned[0], "Department") {
		t.Errorf("warning names a field the fallback covers: %s", warned[0])
	}
}
