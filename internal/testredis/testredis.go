// Package testredis isolates tests on the real Redis server: each caller of
// New gets a Redis database number of its own (leased, flushed before and
// after use), and Start runs a private redis-server on a free loopback port
// for tests that destroy state (FLUSHALL, killing Redis).
package testredis

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Addr is the shared test Redis server (KIZUNA_TEST_REDIS_ADDR, default 127.0.0.1:6379).
func Addr() string {
	if v := os.Getenv("KIZUNA_TEST_REDIS_ADDR"); v != "" {
		return v
	}
	return "127.0.0.1:6379"
}

// Redis is one isolated key space.
type Redis struct {
	Client *redis.Client
	Addr   string
	DB     int
	// URL is the redis:// URL of this key space, for the real binary.
	URL string
}

// New leases a database number 1–15 on the shared server for t; database 0
// holds the leases. It fails the test when every number is taken for a minute.
func New(t testing.TB) *Redis {
	t.Helper()
	ctx := context.Background()
	leases := redis.NewClient(&redis.Options{Addr: Addr(), DB: 0})
	t.Cleanup(func() { leases.Close() })
	if err := leases.Ping(ctx).Err(); err != nil {
		t.Fatalf("testredis: the test Redis at %s is not reachable: %v", Addr(), err)
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
			c := redis.NewClient(&redis.Options{Addr: Addr(), DB: n})
			c.FlushDB(ctx)
			r := &Redis{Client: c, Addr: Addr(), DB: n, URL: fmt.Sprintf("redis://%s/%d", Addr(), n)}
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

// Server is a private redis-server process.
type Server struct {
	Addr string
	URL  string
	cmd  *exec.Cmd
}

// Start runs a private redis-server (noeviction, no persistence) on a free
// loopback port, stopped when t ends. It skips the test when redis-server is
// not installed.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed")
	}
	port := freePort(t)
	dir := t.TempDir()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction", "--dir", dir,
		"--logfile", filepath.Join(dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		t.Fatalf("testredis: start redis-server: %v", err)
	}
	s := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), cmd: cmd}
	s.URL = "redis://" + s.Addr + "/0"
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer c.Close()
	for i := 0; ; i++ {
		if c.Ping(context.Background()).Err() == nil {
			return s
		}
		if i > 100 {
			t.Fatalf("testredis: private redis-server did not start on %s", s.Addr)
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
