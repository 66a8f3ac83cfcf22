package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/internal/testbin"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
	"github.com/kizuna-alumni/kizuna/internal/testredis"
)

// campaignFolder writes a campaigns folder with the example defaults and
// one newsletter per id, each with the given schedule block.
func campaignFolder(t *testing.T, schedules map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	defaults, err := os.ReadFile("../../examples/campaigns/kizuna.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kizuna.yaml"), defaults, 0o644); err != nil {
		t.Fatal(err)
	}
	for id, sched := range schedules {
		writeCampaign(t, dir, id, sched)
	}
	return dir
}

func writeCampaign(t *testing.T, dir, id, schedule string) string {
	t.Helper()
	body := "id: " + id + `
kind: newsletter
subject:
  ja: "{{.FamilyName}}様 お知らせ"
  en: "News for {{.GivenName}}"
audience:
  locales: [ja, en]
` + schedule + `
template:
  body:
    ja:
      intros: ["お元気ですか。"]
    en:
      intros: ["How are you?"]
`
	path := filepath.Join(dir, id+".yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func startEnv(t *testing.T) (*testdb.DB, map[string]string) {
	t.Helper()
	db := testdb.New(t)
	rd := testredis.New(t)
	testdb.Alumni(t, db, testdb.Alumnus{Email: "a@example.jp", FamilyName: "山田", GivenName: "太郎", Consent: true},
		testdb.Alumnus{Email: "b@example.jp", FamilyName: "佐藤", GivenName: "花子", Consent: true})
	return db, map[string]string{"KIZUNA_DATABASE_URL": db.URL, "KIZUNA_REDIS_URL": rd.URL, "KIZUNA_SECRET": testSecret}
}

func TestCampaignStart(t *testing.T) {
	t.Parallel()
	db, env := startEnv(t)
	dir := campaignFolder(t, map[string]string{"spring": ""})
	file := filepath.Join(dir, "spring.yaml")
	runs := func() int {
		var n int
		db.Get(&n, `SELECT count(*) FROM runs WHERE campaign_id = 'spring'`)
		return n
	}

	// Not on a terminal without --yes: refused, nothing started.
	code, _, errOut := runApp(t, env, "campaign", "start", file)
	if code != 2 || !strings.Contains(errOut, "--yes") || !strings.Contains(errOut, "2 alumni") || runs() != 0 {
		t.Fatalf("without --yes: exit %d, %d runs, stderr %q; want 2, 0 runs and a hint to pass --yes", code, runs(), errOut)
	}
	// Without KIZUNA_SECRET: refused.
	noSecret := map[string]string{"KIZUNA_DATABASE_URL": env["KIZUNA_DATABASE_URL"], "KIZUNA_REDIS_URL": env["KIZUNA_REDIS_URL"]}
	if code, _, errOut := runApp(t, noSecret, "campaign", "start", file, "--yes"); code != 2 || !strings.Contains(errOut, "KIZUNA_SECRET") {
		t.Errorf("without secret: exit %d, %q", code, errOut)
	}

	code, out, errOut := runApp(t, env, "campaign", "start", file, "--yes")
	if code != 0 || !strings.Contains(out, "run 1") || !strings.Contains(out, "2 deliveries") || !strings.Contains(out, "campaign status spring") {
		t.Fatalf("start: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	var occurrence, kind, state string
	db.QueryRow(`SELECT occurrence, kind, state FROM runs WHERE campaign_id = 'spring'`).Scan(&occurrence, &kind, &state)
	if !strings.HasPrefix(occurrence, "manual:") || kind != "send" || state != "sending" {
		t.Errorf("run: occurrence %q kind %s state %s", occurrence, kind, state)
	}

	// A second start needs --again.
	code, _, errOut = runApp(t, env, "campaign", "start", file, "--yes")
	if code != 2 || !strings.Contains(errOut, "--again") || runs() != 1 {
		t.Fatalf("second start: exit %d, %d runs, %q; want 2 and a hint to pass --again", code, runs(), errOut)
	}
	// By id, with --again: the latest registered version.
	code, out, errOut = runApp(t, env, "campaign", "start", "spring", "--yes", "--again")
	if code != 0 || !strings.Contains(out, "run 2") || runs() != 2 {
		t.Fatalf("start by id --again: exit %d, %d runs\n%s%s", code, runs(), out, errOut)
	}

	// Unknown id and invalid file: exit 2, nothing started.
	if code, _, errOut := runApp(t, env, "campaign", "start", "no-such-campaign", "--yes"); code != 2 || !strings.Contains(errOut, "unknown campaign") {
		t.Errorf("unknown id: exit %d, %q", code, errOut)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("id: bad\nkind: webinar\n"), 0o644)
	if code, _, errOut := runApp(t, env, "campaign", "start", bad, "--yes"); code != 2 || !strings.Contains(errOut, "bad.yaml:2:") {
		t.Errorf("invalid file: exit %d, stderr %q; want 2 and file:line:col", code, errOut)
	}
}

func TestCampaignStartAsksOnATerminal(t *testing.T) {
	t.Parallel()
	// The question and its answer, read from stdin.
	var out bytes.Buffer
	ok, err := confirm(strings.NewReader("y\n"), &out, "Send to 2 alumni? [y/N] ")
	if !ok || err != nil || out.String() != "Send to 2 alumni? [y/N] " {
		t.Errorf("yes: %v %v %q", ok, err, out.String())
	}
	for _, answer := range []string{"\n", "n\n", "nope\n", ""} {
		if ok, _ := confirm(strings.NewReader(answer), &out, "?"); ok {
			t.Errorf("answer %q was taken as yes", answer)
		}
	}
}

func TestSchedulerCommandStartsADueCampaign(t *testing.T) {
	t.Parallel()
	db, env := startEnv(t)
	at := time.Now().Add(3 * time.Second).Format(time.RFC3339)
	dir := campaignFolder(t, map[string]string{"soon": "schedule:\n  at: " + at})
	// An at already past when first seen is reported, not sent.
	writeCampaign(t, dir, "gone", "schedule:\n  at: 2020-01-01T10:00:00+09:00")
	env["KIZUNA_CAMPAIGNS"] = dir

	if code, _, errOut := runApp(t, map[string]string{"KIZUNA_DATABASE_URL": db.URL}, "scheduler"); code != 2 || !strings.Contains(errOut, "--campaigns") {
		t.Errorf("without a folder: exit %d, %q", code, errOut)
	}

	done, cancel, errOut := startApp(t, env, "scheduler")

	deadline := time.Now().Add(30 * time.Second)
	var n int
	for time.Now().Before(deadline) {
		db.Get(&n, `SELECT count(*) FROM runs WHERE campaign_id = 'soon'`)
		if n > 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	// A campaign added while the scheduler runs is picked up by a reload.
	writeCampaign(t, dir, "added", "schedule:\n  at: "+time.Now().Add(2*time.Second).Format(time.RFC3339))
	var added int
	for time.Now().Before(deadline) {
		db.Get(&added, `SELECT count(*) FROM runs WHERE campaign_id = 'added'`)
		if added > 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	cancel()
	code := <-done
	if n != 1 || added != 1 || code != 0 {
		t.Fatalf("runs of soon %d, of added %d, exit %d; want 1, 1, 0\n%s", n, added, code, errOut.String())
	}
	var gone int
	db.Get(&gone, `SELECT count(*) FROM runs WHERE campaign_id = 'gone'`)
	logs := errOut.String()
	if gone != 0 || !strings.Contains(logs, "campaign start") || !strings.Contains(logs, "gone") {
		t.Errorf("past campaign: %d runs; logs should say `campaign start` sends it:\n%s", gone, logs)
	}
	// The scheduler registered every campaign: list shows them.
	code, list, _ := runApp(t, env, "campaign", "list", "--json")
	for _, id := range []string{"soon", "gone", "added"} {
		if code != 0 || !strings.Contains(list, `"`+id+`"`) {
			t.Errorf("campaign list lacks %s: %s", id, list)
		}
	}
}

// startApp runs a long-running command (scheduler, run) in-process in the
// background with env as its environment. cancel stops it as a signal
// would; its exit code then arrives on done; errOut collects its logs.
func startApp(t *testing.T, env map[string]string, args ...string) (done <-chan int, cancel context.CancelFunc, errOut *testbin.Buffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errOut = &testbin.Buffer{}
	app := NewApp(strings.NewReader(""), &testbin.Buffer{}, errOut, testGetenv(env))
	t.Cleanup(func() { cancel(); app.Close() })
	c := make(chan int, 1)
	go func() { c <- app.Run(ctx, args) }()
	return c, cancel, errOut
}

// TestCampaignStartConfirmsOnATerminal runs the real binary on a
// pseudo-terminal (util-linux script) and answers the question.
func TestCampaignStartConfirmsOnATerminal(t *testing.T) {
	t.Parallel()
	scriptPath, err := exec.LookPath("script")
	if err != nil {
		t.Skip("util-linux script is not installed: no pseudo-terminal to test with")
	}
	db, env := startEnv(t)
	bin := testbin.Binary(t)
	file := filepath.Join(campaignFolder(t, map[string]string{"tty": ""}), "tty.yaml")
	runs := func() int {
		var n int
		db.Get(&n, `SELECT count(*) FROM runs WHERE campaign_id = 'tty'`)
		return n
	}
	for _, c := range []struct {
		answer string
		code   int
		runs   int
	}{{"n", 1, 0}, {"y", 0, 1}} {
		cmd := exec.Command(scriptPath, "-qec", bin+" campaign start "+file, "/dev/null")
		cmd.Env = append(os.Environ(), "KIZUNA_DATABASE_URL="+env["KIZUNA_DATABASE_URL"], "KIZUNA_REDIS_URL="+env["KIZUNA_REDIS_URL"], "KIZUNA_SECRET="+testSecret)
		stdin, _ := cmd.StdinPipe()
		var out testbin.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(out.String(), "[y/N]") && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if !strings.Contains(out.String(), "send to 2 alumni? [y/N]") {
			t.Fatalf("no question on the terminal:\n%s", out.String())
		}
		stdin.Write([]byte(c.answer + "\n"))
		err := cmd.Wait()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != c.code || runs() != c.runs {
			t.Errorf("answer %s: exit %d, %d runs; want %d, %d\n%s", c.answer, code, runs(), c.code, c.runs, out.String())
		}
	}
}
