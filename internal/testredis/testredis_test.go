package testredis_test

import (
	"context"
	"testing"

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
	if s.Addr == testredis.Addr() {
		t.Fatal("private server uses the shared address")
	}
}
