package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/internal/smtptest"
)

// TestTwoSchedulersTwoWorkers runs two schedulers and two workers at once,
// as on two machines, against one Postgres and one Redis: the scheduled
// campaign gets exactly one run and every recipient exactly one message.
func TestTwoSchedulersTwoWorkers(t *testing.T) {
	t.Parallel()
	const n = 300
	const id = "two-of-each"
	e := newEnv(t)
	dir := t.TempDir()

	var roster strings.Builder
	roster.WriteString("\ufeffemail,name,department,locale,consent\r\n")
	for i := range n {
		if i%4 == 0 {
			fmt.Fprintf(&roster, "r%03d@example.com,Alex Doe%d,Sales,en,yes\r\n", i, i)
		} else {
			fmt.Fprintf(&roster, "r%03d@example.jp,山田%d 太郎,開発部,ja,はい\r\n", i, i)
		}
	}
	e.must(t, "alumni", "import", writeFile(t, dir, "alumni.csv", []byte(roster.String())))

	campaignsDir := filepath.Join(dir, "campaigns")
	if err := os.Mkdir(campaignsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	copyExample(t, campaignsDir, "kizuna.yaml")
	// Due a few seconds from now, so that both schedulers see it before it
	// is due (a one-off already past when first seen is not sent).
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(6 * time.Second).Truncate(time.Second).In(tokyo)
	writeFile(t, campaignsDir, id+".yaml", []byte(`id: `+id+`
kind: newsletter
subject:
  ja: "{{.FamilyName}}様 アルムナイ通信"
  en: "Alumni news for {{.GivenName}}"
schedule:
  at: `+at.Format(time.RFC3339)+`
tracking: { opens: false, clicks: false }
template:
  body:
    ja: { intros: ["{{.Department}}の皆様、お元気ですか。"] }
    en: { intros: ["How are you doing?"] }
`))
	if r := e.must(t, "campaign", "validate", campaignsDir, "--json"); !strings.Contains(r.Stdout, fmt.Sprintf(`"reach": %d`, n)) {
		t.Fatalf("validate: want reach %d\n%s", n, r)
	}

	// Each worker sends through its own relay, so the test can tell that
	// both took part; the counts per recipient add both relays up.
	relays := []*smtptest.Server{e.relay, smtptest.Start(t)}
	var procs []*proc
	for i := range 2 {
		procs = append(procs, e.start(t, fmt.Sprintf("scheduler %d", i+1), "scheduler", "--campaigns", campaignsDir))
	}
	for i, relay := range relays {
		procs = append(procs, e.startWith(t, map[string]string{"KIZUNA_SMTP_URL": relay.URL()},
			fmt.Sprintf("worker %d", i+1), "worker", "--concurrency", "1"))
	}
	// The schedulers register the campaign when they load the folder; until
	// then its id is unknown (exit 2). Before its at it has no run.
	for deadline := time.Now().Add(20 * time.Second); ; {
		r := kizuna(t, e.vars, "campaign", "status", id, "--json")
		if r.Code == 0 {
			if before := time.Now().Before(at); before && !strings.Contains(r.Stdout, `"runs": []`) {
				t.Fatalf("a run started before the campaign's at (%s):\n%s", at.Format(time.RFC3339), r)
			}
			break
		}
		if r.Code != 2 || time.Now().After(deadline) {
			t.Fatalf("the schedulers did not register %s\n%s", id, r)
		}
		time.Sleep(100 * time.Millisecond)
	}

	st := e.waitDone(t, id, 1, 45*time.Second, procs...)
	finished := time.Now()
	if s := st[0]; s.Total != n || s.Sent != n || s.Failed != 0 || s.Pending != 0 {
		t.Errorf("run status %+v; want total = sent = %d", s, n)
	}
	started, err := time.Parse(time.RFC3339, st[0].StartedAt)
	if err != nil || started.Before(at) {
		t.Errorf("the run started at %s, before its at %s", st[0].StartedAt, at.Format(time.RFC3339))
	}
	// Give a duplicate task a moment to show up before counting.
	time.Sleep(time.Second)
	got := map[string]int{}
	var perWorker []int
	for _, relay := range relays {
		perWorker = append(perWorker, relay.Accepted())
		for to, c := range perRecipient(relay) {
			got[to] += c
		}
	}
	dups, missing := 0, 0
	for i := range n {
		to := fmt.Sprintf("r%03d@example.jp", i)
		if i%4 == 0 {
			to = fmt.Sprintf("r%03d@example.com", i)
		}
		switch c := got[to]; {
		case c == 0:
			missing++
		case c > 1:
			dups += c - 1
		}
	}
	if len(got) != n {
		t.Errorf("messages went to %d distinct recipients, want %d", len(got), n)
	}
	if final := e.status(t, id); len(final) != 1 {
		t.Errorf("campaign %s has %d runs, want exactly one: %+v", id, len(final), final)
	}
	t.Logf("%d recipients, at %s, run started %s, done %s after at; worker 1 sent %d, worker 2 sent %d; %d missing, %d duplicates",
		n, at.Format(time.RFC3339), st[0].StartedAt, finished.Sub(at).Round(100*time.Millisecond), perWorker[0], perWorker[1], missing, dups)
	if missing != 0 || dups != 0 {
		t.Errorf("%d recipients got nothing and %d messages were sent twice; want every recipient exactly once", missing, dups)
	}
	for _, p := range procs {
		p.Alive(t)
	}
}
