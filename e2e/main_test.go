package e2e

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/internal/smtptest"
	"github.com/kizuna-alumni/kizuna/internal/testbin"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
	"github.com/kizuna-alumni/kizuna/internal/testredis"
)

// testSecret signs the links of every message in these tests.
const testSecret = "e2e-secret-0123456789abcdef-0123456789abcdef"

const baseURL = "https://alumni.example.co.jp"

func TestMain(m *testing.M) {
	os.Exit(testbin.Main(m))
}

// env is the environment of one test's kizuna processes: its own
// database, Redis key space and relay.
type env struct {
	vars  map[string]string
	db    *testdb.DB
	relay *smtptest.Server
}

// newEnv gives a test a fresh database, Redis database and SMTP relay, and
// the variables that point the binary at them.
func newEnv(t *testing.T) *env {
	t.Helper()
	db := testdb.New(t)
	rd := testredis.New(t)
	relay := smtptest.Start(t)
	return &env{db: db, relay: relay, vars: map[string]string{
		"KIZUNA_DATABASE_URL": db.URL,
		"KIZUNA_REDIS_URL":    rd.URL,
		"KIZUNA_SMTP_URL":     relay.URL(),
		"KIZUNA_SECRET":       testSecret,
		"KIZUNA_BASE_URL":     baseURL,
		"KIZUNA_LISTEN":       "127.0.0.1:0", // kizuna run serves the web on a free port
	}}
}

// result is what one finished command did.
type result = testbin.Result

// kizuna runs one command to completion (at most a minute) with vars as
// its KIZUNA_ environment and no terminal on stdin.
func kizuna(t *testing.T, vars map[string]string, args ...string) result {
	t.Helper()
	return testbin.Run(t, vars, args...)
}

// must runs a command that has to succeed.
func (e *env) must(t *testing.T, args ...string) result {
	t.Helper()
	r := kizuna(t, e.vars, args...)
	if r.Code != 0 {
		t.Fatalf("%s", r)
	}
	return r
}

// proc is a long-running kizuna process (run, scheduler, worker).
type proc = testbin.Proc

// start runs a long-running command in the background. At cleanup it is
// sent SIGTERM, killed 10 s later if still alive, and its output is shown
// when the test failed.
func (e *env) start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	return e.startWith(t, nil, name, args...)
}

// startWith is start with some variables of the environment replaced.
func (e *env) startWith(t *testing.T, override map[string]string, name string, args ...string) *proc {
	t.Helper()
	vars := map[string]string{}
	for k, v := range e.vars {
		vars[k] = v
	}
	for k, v := range override {
		vars[k] = v
	}
	return testbin.Start(t, testbin.Options{Name: name, Args: args, Vars: vars})
}

// runStatus is one run of `campaign status --json`, with every SPEC key.
type runStatus struct {
	Run        int    `json:"run"`
	Kind       string `json:"kind"`
	StartedAt  string `json:"started_at"`
	State      string `json:"state"`
	Total      int    `json:"total"`
	Pending    int    `json:"pending"`
	Sent       int    `json:"sent"`
	Failed     int    `json:"failed"`
	Suppressed int    `json:"suppressed"`
}

// statusKeys are the keys SPEC.md promises in every run of `campaign
// status --json`.
var statusKeys = []string{"run", "kind", "started_at", "state", "total", "pending", "sent", "failed",
	"suppressed", "opened", "clicked", "unsubscribed", "replied", "bounced", "rsvp_yes", "rsvp_no",
	"rsvp_maybe", "waitlisted"}

// status runs `campaign status ID --json` and decodes it, checking that it
// is one JSON document with every key SPEC.md lists.
func (e *env) status(t *testing.T, id string) []runStatus {
	t.Helper()
	r := e.must(t, "campaign", "status", id, "--json")
	var raw struct {
		ID   string                       `json:"id"`
		Runs []map[string]json.RawMessage `json:"runs"`
	}
	dec := json.NewDecoder(strings.NewReader(r.Stdout))
	if err := dec.Decode(&raw); err != nil {
		t.Fatalf("status --json is not JSON: %v\n%s", err, r)
	}
	if dec.More() {
		t.Fatalf("status --json printed more than one document\n%s", r)
	}
	if raw.ID != id || raw.Runs == nil {
		t.Fatalf("status --json: id %q, runs %v; want id %q and a runs array\n%s", raw.ID, raw.Runs, id, r)
	}
	out := make([]runStatus, len(raw.Runs))
	for i, m := range raw.Runs {
		for _, k := range statusKeys {
			if _, ok := m[k]; !ok {
				t.Errorf("status --json run %d has no %q key\n%s", i+1, k, r.Stdout)
			}
		}
		b, _ := json.Marshal(m)
		if err := json.Unmarshal(b, &out[i]); err != nil {
			t.Fatalf("status --json run %d: %v\n%s", i+1, err, r.Stdout)
		}
		if _, err := time.Parse(time.RFC3339, out[i].StartedAt); err != nil || !strings.HasSuffix(out[i].StartedAt, "Z") {
			t.Errorf("started_at %q is not RFC 3339 UTC", out[i].StartedAt)
		}
	}
	return out
}

// waitDone polls `campaign status` until the campaign has want runs and
// the last one is done, and returns that status.
func (e *env) waitDone(t *testing.T, id string, want int, timeout time.Duration, procs ...*proc) []runStatus {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var st []runStatus
	for {
		st = e.status(t, id)
		if len(st) == want && st[want-1].State == "done" {
			return st
		}
		if len(st) > want {
			t.Fatalf("campaign %s has %d runs, want %d: %+v", id, len(st), want, st)
		}
		for _, p := range procs {
			p.Alive(t)
		}
		if time.Now().After(deadline) {
			t.Fatalf("campaign %s: run %d not done after %s: %+v (relay accepted %d)", id, want, timeout, st, e.relay.Accepted())
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// freeAddr is a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// perRecipient counts the messages the relay accepted per envelope recipient.
func perRecipient(relay *smtptest.Server) map[string]int {
	out := map[string]int{}
	for _, m := range relay.Messages() {
		for _, to := range m.To {
			out[strings.ToLower(to)]++
		}
	}
	return out
}

// writeFile writes a file under dir and returns its path.
func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
