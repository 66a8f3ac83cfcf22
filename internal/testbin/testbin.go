// Package testbin builds the real kizuna binary once per test process and
// drives it as an operator would: one command to completion, or a
// long-running process (worker, scheduler, run) whose output is collected
// in a race-safe Buffer, that can be waited on, signalled, killed with
// SIGKILL and asked for its exit code. It is used only by tests (e2e/ and
// the worker's process tests); a test package that calls Binary, Run or
// Start has a TestMain that calls Main, so the binary is removed again.
package testbin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Pkg is the import path of the command Binary builds.
const Pkg = "github.com/kizuna-alumni/kizuna/cmd/kizuna"

var build struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// Binary returns the path of the kizuna binary, built with `go build` into
// a temporary folder on the first call of the test process; a failed build
// fails t (and every later caller) with the compiler's output.
func Binary(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		dir, err := os.MkdirTemp("", "kizuna-testbin")
		if err != nil {
			build.err = err
			return
		}
		build.dir = dir
		build.path = filepath.Join(dir, "kizuna")
		if out, err := exec.Command("go", "build", "-o", build.path, Pkg).CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build %s: %v\n%s", Pkg, err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

// Main runs the tests of m and then removes the binary Binary built, if
// any; it returns m.Run's exit code. Call it from TestMain:
// os.Exit(testbin.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	return code
}

// Environ is this process's environment without any KIZUNA_ variable of
// its own, plus vars (name → value): a test's binary sees only the
// configuration the test gives it.
func Environ(vars map[string]string) []string {
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

// Buffer collects the output of a process or a logger written from
// several goroutines; the zero value is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p; it never fails.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String is everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Lines returns the non-empty lines written so far that contain every
// one of words (all of them when words is empty), in order; nil when none
// does.
func (s *Buffer) Lines(words ...string) []string {
	var out []string
	for _, l := range strings.Split(s.String(), "\n") {
		ok := l != ""
		for _, w := range words {
			ok = ok && strings.Contains(l, w)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

// Tail is the last n bytes of s, marked with "…" when cut.
func Tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// Result is what one finished command did: its arguments, exit code and
// output.
type Result struct {
	Args           []string
	Code           int
	Stdout, Stderr string
}

// String shows the command, its exit code and the last 4000 bytes of
// each stream, for a failure message.
func (r Result) String() string {
	return fmt.Sprintf("kizuna %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.Args, " "), r.Code, Tail(r.Stdout, 4000), Tail(r.Stderr, 4000))
}

// Run runs one kizuna command to completion (at most a minute) with vars
// as its KIZUNA_ environment and no terminal on stdin. A command that
// cannot be started or does not exit by itself fails t.
func Run(t testing.TB, vars map[string]string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, Binary(t), args...)
	cmd.Env = Environ(vars)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := Result{Args: args, Stdout: out.String(), Stderr: errOut.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.Exited():
		r.Code = exit.ExitCode()
	default:
		t.Fatalf("kizuna %s: %v\n%s", strings.Join(args, " "), err, r)
	}
	return r
}

// Options says which long-running command Start runs and how.
type Options struct {
	// Name names the process in failure messages ("worker 2").
	Name string
	// Args are the command line after the binary ("worker", "--concurrency", "4").
	Args []string
	// Vars are the KIZUNA_ variables of its environment (see Environ).
	Vars map[string]string
	// Kill stops the process at cleanup with SIGKILL at once; otherwise
	// it gets SIGTERM and is killed only if still alive 10 s later.
	Kill bool
}

// Proc is a long-running kizuna process started by Start.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	// Out collects stdout and stderr together.
	Out  *Buffer
	done chan struct{} // closed when the process has exited
	err  error
}

// Start runs a long-running command in the background. At t's cleanup it
// is stopped as o.Kill says and waited for, and its output is logged when
// t failed.
func Start(t testing.TB, o Options) *Proc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, Binary(t), o.Args...)
	cmd.Env = Environ(o.Vars)
	if !o.Kill {
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
		cmd.WaitDelay = 10 * time.Second
	}
	p := &Proc{Name: o.Name, Cmd: cmd, Out: &Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.Out, p.Out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		cancel()
		<-p.done
		if t.Failed() {
			t.Logf("%s (pid %d) output:\n%s", o.Name, cmd.Process.Pid, Tail(p.Out.String(), 6000))
		}
	})
	return p
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is what waiting for the process returned (nil for exit 0); it is
// meaningful once Done is closed.
func (p *Proc) Err() error {
	<-p.done
	return p.err
}

// Output is everything the process printed so far.
func (p *Proc) Output() string { return p.Out.String() }

// Alive fails t when the process has already exited.
func (p *Proc) Alive(t testing.TB) {
	t.Helper()
	select {
	case <-p.done:
		t.Fatalf("%s exited early (%v):\n%s", p.Name, p.err, Tail(p.Out.String(), 6000))
	default:
	}
}

// Signal sends sig to the process; a process that already exited is
// left alone.
func (p *Proc) Signal(sig os.Signal) { p.Cmd.Process.Signal(sig) }

// Kill9 kills the process with SIGKILL and waits until it is gone.
func (p *Proc) Kill9() {
	p.Cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Terminate sends SIGTERM and waits at most limit for the exit; it
// returns the exit status and how long the process took to stop. A
// process still alive after limit is killed and fails t.
func (p *Proc) Terminate(t testing.TB, limit time.Duration) (int, time.Duration) {
	t.Helper()
	began := time.Now()
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM %s: %v", p.Name, err)
	}
	select {
	case <-p.done:
	case <-time.After(limit):
		p.Cmd.Process.Kill()
		<-p.done
		t.Fatalf("%s did not exit within %s of SIGTERM", p.Name, limit)
	}
	return p.Cmd.ProcessState.ExitCode(), time.Since(began)
}

// WaitOutput waits until the process has printed text; it fails t when
// the process exits first or limit passes.
func (p *Proc) WaitOutput(t testing.TB, text string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !strings.Contains(p.Out.String(), text) {
		p.Alive(t)
		if time.Now().After(deadline) {
			t.Fatalf("%s did not print %q within %s:\n%s", p.Name, text, limit, Tail(p.Out.String(), 4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
