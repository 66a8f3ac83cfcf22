package testredis_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kizuna-alumni/kizuna/internal/testredis"
)

// Two leases never share a database number, and each starts empty.
func TestLeasesAreIsolated(t *testing.T) {
	ctx := context.Background()
	a, b := testredis.New(t), testredis.New(t)
	if a.DB == b.DB {
		t.Fatalf("both leases got database %d", a.DB)
	}
	if err := a.Client.Set(ctx, "k", "a", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n := b.Client.Exists(ctx, "k").Val(); n != 0 {
		t.Fatalf("key written in db %d is visible in db %d", a.DB, b.DB)
	}
}

func TestPrivateServer(t *testing.T) {
	s := testredis.Start(t)
	if s.Addr == "127.0.0.1:6379" || s.Addr == testredis.SharedAddr() {
		t.Fatal("private server uses the shared address")
	}
}

// The Redis on the default address may hold someone's real data: New, by
// default, neither flushes nor writes any of its databases.
func TestNewLeavesTheDefaultRedisAlone(t *testing.T) {
	if testredis.SharedAddr() != "" {
		t.Skipf("%s names a Redis the tests may wipe", testredis.EnvAddr)
	}
	const addr = "127.0.0.1:6379"
	ctx := context.Background()
	probe := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	defer probe.Close()
	if err := probe.Ping(ctx).Err(); err != nil {
		t.Skipf("no Redis answers on %s: %v", addr, err)
	}
	sentinel := fmt.Sprintf("kizuna:test:sentinel:%d-%d", os.Getpid(), time.Now().UnixNano())
	clients := map[int]*redis.Client{}
	for n := 0; n <= 15; n++ {
		c := redis.NewClient(&redis.Options{Addr: addr, DB: n})
		clients[n] = c
		if err := c.Set(ctx, sentinel, "real data", 10*time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, c := range clients {
			c.Del(context.Background(), sentinel) // only the key this test wrote
			c.Close()
		}
	})

	r := testredis.New(t)
	r.Client.Set(ctx, "k", "v", 0)
	if r.Addr == addr {
		t.Errorf("New handed out database %d of the default Redis on %s", r.DB, addr)
	}
	for n, c := range clients {
		if c.Exists(ctx, sentinel).Val() != 1 {
			t.Errorf("database %d of the Redis on %s lost a key it held before New", n, addr)
		}
	}
	leases, _ := clients[0].Keys(ctx, "kizuna:test:lease:*").Result()
	for _, k := range leases {
		if v, _ := clients[0].Get(ctx, k).Result(); strings.HasPrefix(v, fmt.Sprintf("%d-", os.Getpid())) {
			t.Errorf("New wrote the lease %s into the Redis on %s", k, addr)
		}
	}
}

// The private redis-server goes away with the test process, even when that
// process is killed: a helper test process leases a database and is killed,
// and its server must stop answering.
func TestPrivateServerDiesWithTheTestProcess(t *testing.T) {
	if testredis.SharedAddr() != "" {
		t.Skipf("%s names a Redis the tests may wipe", testredis.EnvAddr)
	}
	testredis.New(t) // skips when redis-server is not installed
	helper := exec.Command(os.Args[0], "-test.run=^TestHelperHoldsPrivateServer$", "-test.v")
	helper.Env = append(os.Environ(), "KIZUNA_TESTREDIS_HELPER=1")
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	var addr string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
			addr = a
			break
		}
	}
	if addr == "" {
		helper.Process.Kill()
		helper.Wait()
		t.Fatal("the helper process printed no address")
	}
	if addr == "127.0.0.1:6379" {
		t.Fatalf("the helper leased a database on the default Redis %s", addr)
	}
	helper.Process.Kill()
	helper.Wait()

	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	for i := 0; c.Ping(context.Background()).Err() == nil; i++ {
		if i > 100 {
			t.Fatalf("the private redis-server on %s still answers after its test process was killed", addr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestHelperHoldsPrivateServer is the process TestPrivateServerDiesWithTheTestProcess kills.
func TestHelperHoldsPrivateServer(t *testing.T) {
	if os.Getenv("KIZUNA_TESTREDIS_HELPER") != "1" {
		t.Skip("helper process only")
	}
	r := testredis.New(t)
	fmt.Printf("ADDR %s\n", r.Addr)
	time.Sleep(time.Minute)
}

// A stopped server stops answering; a restarted one answers on the same address.
func TestServerStopAndRestart(t *testing.T) {
	s := testredis.Start(t)
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	ctx := context.Background()
	s.Stop()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("a stopped server answers")
	}
	s.Restart(t)
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("the restarted server does not answer on %s: %v", s.Addr, err)
	}
}
