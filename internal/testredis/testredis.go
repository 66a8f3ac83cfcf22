// Package testredis isolates tests from every Redis they did not start.
//
// By default New hands each caller a database number of its own inside one
// private redis-server per test process: started on first use on a free
// loopback port, without persistence, in its own temporary directory, and
// killed when the test process ends, however it ends (see child.go). The Redis on 127.0.0.1:6379 — which may hold
// someone's real data — is never touched. Only when KIZUNA_TEST_REDIS_ADDR
// names a Redis explicitly do tests use that one, and then they wipe the
// databases 1–15 they lease in it.
//
// Start runs a further private redis-server of a test's own, for tests that
// destroy state (FLUSHALL, killing Redis).
package testredis

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// EnvAddr is the variable that names a Redis (host:port) the tests may use
// and wipe instead of their private redis-server.
const EnvAddr = "KIZUNA_TEST_REDIS_ADDR"

// SharedAddr is the Redis named by KIZUNA_TEST_REDIS_ADDR, or "" when the
// variable is unset and tests use their private redis-server.
func SharedAddr() string { return os.Getenv(EnvAddr) }

// Redis is one isolated key space.
type Redis struct {
	Client *redis.Client
	Addr   string
	DB     int
	// URL is the redis:// URL of this key space, for the real binary.
	URL string
}

// New gives t a database of its own, empty at the start and flushed at the
// end: one of privateDatabases numbers of this process's private
// redis-server, or, when KIZUNA_TEST_REDIS_ADDR is set, a number 1–15 leased
// on that server. It fails the test when no database frees up within a
// minute, and skips it when redis-server is not installed.
func New(t testing.TB) *Redis {
	t.Helper()
	if addr := SharedAddr(); addr != "" {
		return leaseShared(t, addr)
	}
	return leasePrivate(t)
}

// privateDatabases is the number of databases of the process's private
// server: more than the tests of one package ever hold at once.
const privateDatabases = 256

// private is this test process's redis-server and its free database numbers.
var private struct {
	mu   sync.Mutex
	srv  *process
	err  error
	used [privateDatabases]bool
	free *sync.Cond
}

func leasePrivate(t testing.TB) *Redis {
	t.Helper()
	private.mu.Lock()
	if private.srv == nil && private.err == nil {
		private.free = sync.NewCond(&private.mu)
		private.srv, private.err = startProcess("", "--databases", strconv.Itoa(privateDatabases))
	}
	srv, err := private.srv, private.err
	if err != nil {
		private.mu.Unlock()
		if err == errNotInstalled {
			t.Skip("redis-server not installed")
		}
		t.Fatalf("testredis: %v", err)
	}
	n := -1
	deadline := time.Now().Add(time.Minute)
	for n < 0 {
		for i := range private.used {
			if !private.used[i] {
				n = i
				break
			}
		}
		if n >= 0 {
			break
		}
		if time.Now().After(deadline) {
			private.mu.Unlock()
			t.Fatalf("testredis: all %d databases of the private redis-server are in use", privateDatabases)
		}
		private.free.Wait()
	}
	private.used[n] = true
	private.mu.Unlock()

	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: srv.addr, DB: n})
	if err := c.FlushDB(ctx).Err(); err != nil {
		t.Fatalf("testredis: private redis-server on %s: %v", srv.addr, err)
	}
	t.Cleanup(func() {
		c.FlushDB(context.Background())
		c.Close()
		private.mu.Lock()
		private.used[n] = false
		private.free.Broadcast()
		private.mu.Unlock()
	})
	return &Redis{Client: c, Addr: srv.addr, DB: n, URL: fmt.Sprintf("redis://%s/%d", srv.addr, n)}
}

// leaseShared leases a database number 1–15 on the Redis at addr, which the
// tests were explicitly allowed to wipe; database 0 holds the leases.
func leaseShared(t testing.TB, addr string) *Redis {
	t.Helper()
	ctx := context.Background()
	leases := redis.NewClient(&redis.Options{Addr: addr, DB: 0})
	t.Cleanup(func() { leases.Close() })
	if err := leases.Ping(ctx).Err(); err != nil {
		t.Fatalf("testredis: the Redis named by %s (%s) is not reachable: %v", EnvAddr, addr, err)
	}
	owner := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
	deadline := time.Now().Add(time.Minute)
	for {
		for n := 1; n <= 15; n++ {
			key := "kizuna:test:lease:" + strconv.Itoa(n)
			ok, err := leases.SetNX(ctx, key, owner, 10*time.Minute).Result()
			if err != nil {
				t.Fatalf("testredis: lease: %v", err)
			}
			if !ok {
				continue
			}
			c := redis.NewClient(&redis.Options{Addr: addr, DB: n})
			c.FlushDB(ctx)
			r := &Redis{Client: c, Addr: addr, DB: n, URL: fmt.Sprintf("redis://%s/%d", addr, n)}
			t.Cleanup(func() {
				c.FlushDB(context.Background())
				c.Close()
				if v, _ := leases.Get(context.Background(), key).Result(); v == owner {
					leases.Del(context.Background(), key)
				}
			})
			return r
		}
		if time.Now().After(deadline) {
			t.Fatal("testredis: all 15 test databases are leased")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Server is a private redis-server process of one test.
type Server struct {
	Addr string
	URL  string
	dir  string
	p    *process
}

// Start runs a private redis-server (noeviction, no persistence) on a free
// loopback port, stopped when t ends. It skips the test when redis-server is
// not installed.
func Start(t testing.TB) *Server {
	t.Helper()
	dir := t.TempDir()
	p, err := startProcessOn(dir, freePort(t), "")
	if err == errNotInstalled {
		t.Skip("redis-server not installed")
	}
	if err != nil {
		t.Fatalf("testredis: %v", err)
	}
	s := &Server{Addr: p.addr, URL: "redis://" + p.addr + "/0", dir: dir, p: p}
	t.Cleanup(s.Stop)
	return s
}

// Stop kills the server (as a crash would); Restart brings it back on the
// same address. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	if s.p != nil {
		s.p.kill()
		s.p = nil
	}
}

// Restart starts a fresh, empty redis-server on the address of a stopped
// server s. It fails t when the server cannot start.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	_, port, _ := net.SplitHostPort(s.Addr) // s.Addr is always host:port
	n, _ := strconv.Atoi(port)
	p, err := startProcessOn(s.dir, n, "")
	if err != nil {
		t.Fatalf("testredis: restart on %s: %v", s.Addr, err)
	}
	s.p = p
}

// process is one running redis-server.
type process struct {
	addr  string
	child *child
	once  sync.Once
}

func (p *process) kill() {
	p.once.Do(p.child.stop)
}

var errNotInstalled = fmt.Errorf("redis-server not installed")

// startProcess runs redis-server on a free loopback port with its files in
// a fresh directory under parent, removed when the server stops.
func startProcess(parent string, extra ...string) (*process, error) {
	dir, err := os.MkdirTemp(parent, "kizuna-testredis-")
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	p, err := startProcessOn(dir, port, dir, extra...)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return p, nil
}

// startProcessOn runs redis-server on 127.0.0.1:port with its files in dir
// and waits until it answers; remove (may be "") is deleted when it stops.
func startProcessOn(dir string, port int, remove string, extra ...string) (*process, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errNotInstalled
	}
	args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction", "--dir", dir,
		"--logfile", filepath.Join(dir, "redis.log")}, extra...)
	ch, err := startChild(bin, args, remove)
	if err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	p := &process{addr: fmt.Sprintf("127.0.0.1:%d", port), child: ch}
	c := redis.NewClient(&redis.Options{Addr: p.addr, MaxRetries: -1})
	defer c.Close()
	for i := 0; ; i++ {
		if c.Ping(context.Background()).Err() == nil {
			return p, nil
		}
		if i > 100 {
			p.kill()
			log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			return nil, fmt.Errorf("private redis-server did not start on %s:\n%s", p.addr, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testredis: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
