package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/internal/smtptest"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
	"github.com/kizuna-alumni/kizuna/internal/testredis"
)

// testSecret signs the links of every message in these tests.
const testSecret = "e2e-secret-0123456789abcdef-0123456789abcdef"

const baseURL = "https://alumni.example.co.jp"

// binary is the kizuna binary TestMain built for this test process.
var binary string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

// buildAndRun builds the binary from the module root once, runs the tests
// and removes the binary again.
func buildAndRun(m *testing.M) int {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		fmt.Fprintf(os.Stderr, "e2e: cannot find the module root (go env GOMOD: %q, %v)\n", gomod, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "kizuna-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "kizuna")
	build := exec.Command("go", "build", "-o", binary, "./cmd/kizuna")
	build.Dir = filepath.Dir(gomod)
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build ./cmd/kizuna: %v\n%s", err, out)
		return 1
	}
	return m.Run()
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
	}}
}

// environ is the process environment without any KIZUNA_ variable of the
// caller's, plus vars.
func environ(vars map[string]string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KIZUNA_") {
			out = append(out, kv)
		}
	}
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	return out
}

// result is what one finished command did.
type result struct {
	args           []string
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("kizuna %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, tail(r.stdout, 4000), tail(r.stderr, 4000))
}

// kizuna runs one command to completion (at most a minute) with vars as
// its KIZUNA_ environment and no terminal on stdin.
func kizuna(t *testing.T, vars map[string]string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = environ(vars)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := result{args: args, stdout: out.String(), stderr: errOut.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.Exited():
		r.code = exit.ExitCode()
	default:
		t.Fatalf("kizuna %s: %v\n%s", strings.Join(args, " "), err, r)
	}
	return r
}

// must runs a command that has to succeed.
func (e *env) must(t *testing.T, args ...string) result {
	t.Helper()
	r := kizuna(t, e.vars, args...)
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	return r
}

// syncBuffer collects a background process's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is a long-running kizuna process (run, scheduler, worker).
type proc struct {
	name   string
	cmd    *exec.Cmd
	output *syncBuffer
	done   chan struct{} // closed when the process has exited
	err    error
}

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
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = environ(vars)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	p := &proc{name: name, cmd: cmd, output: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.output, p.output
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		cancel()
		<-p.done
		if t.Failed() {
			t.Logf("%s (pid %d) output:\n%s", name, cmd.Process.Pid, tail(p.output.String(), 6000))
		}
	})
	return p
}

// alive fails the test when the process has already exited.
func (p *proc) alive(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		t.Fatalf("%s exited early (%v):\n%s", p.name, p.err, tail(p.output.String(), 6000))
	default:
	}
}

// terminate sends SIGTERM and waits at most limit for the exit; it
// returns the exit status and how long the process took to stop.
func (p *proc) terminate(t *testing.T, limit time.Duration) (int, time.Duration) {
	t.Helper()
	began := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM %s: %v", p.name, err)
	}
	select {
	case <-p.done:
	case <-time.After(limit):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("%s did not exit within %s of SIGTERM", p.name, limit)
	}
	return p.cmd.ProcessState.ExitCode(), time.Since(began)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
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
	dec := json.NewDecoder(strings.NewReader(r.stdout))
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
				t.Errorf("status --json run %d has no %q key\n%s", i+1, k, r.stdout)
			}
		}
		b, _ := json.Marshal(m)
		if err := json.Unmarshal(b, &out[i]); err != nil {
			t.Fatalf("status --json run %d: %v\n%s", i+1, err, r.stdout)
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
			p.alive(t)
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
