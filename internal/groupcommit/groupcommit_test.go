package groupcommit

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// sink records the batches a Committer flushes.
type sink struct {
	mu      sync.Mutex
	batches [][]int
	fail    int // fail this many flushes first
}

func (s *sink) flush(_ context.Context, b []int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail > 0 {
		s.fail--
		return errors.New("database away")
	}
	s.batches = append(s.batches, append([]int(nil), b...))
	return nil
}

func (s *sink) items() (n int, batches int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.batches {
		n += len(b)
	}
	return n, len(s.batches)
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestManyItemsShareFewCommitsAndEveryOneIsAcknowledged: 2,000 items from
// 20 goroutines go out in far fewer commits than items, none over
// MaxBatch, and every Do returns nil.
func TestManyItemsShareFewCommitsAndEveryOneIsAcknowledged(t *testing.T) {
	t.Parallel()
	s := &sink{}
	c := New(Config[int]{Flush: s.flush, MaxBatch: 100, Log: quiet()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Loop(ctx); close(done) }()
	var wg sync.WaitGroup
	for g := range 20 {
		wg.Go(func() {
			for i := range 100 {
				if err := c.Do(context.Background(), g*100+i); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	cancel()
	<-done
	n, batches := s.items()
	if n != 2000 {
		t.Fatalf("%d items committed, want 2000", n)
	}
	if batches >= 2000 {
		t.Errorf("%d commits for 2000 items: no grouping", batches)
	}
	for _, b := range s.batches {
		if len(b) > 100 {
			t.Fatalf("a batch of %d, MaxBatch 100", len(b))
		}
	}
}

// TestStopCommitsWhatIsQueuedAndLaterItemsAlone: items queued when Loop
// is told to stop are committed before it returns; an item submitted
// after that is committed at once on its own.
func TestStopCommitsWhatIsQueuedAndLaterItemsAlone(t *testing.T) {
	t.Parallel()
	s := &sink{}
	c := New(Config[int]{Flush: s.flush, Log: quiet()})
	acks := make(chan error, 10)
	for i := range 5 {
		c.Submit(i, acks) // queued; Loop has not started
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c.Loop(ctx) // stops at once and drains
	for range 5 {
		if err := <-acks; err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Do(context.Background(), 99); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.items(); n != 6 {
		t.Fatalf("%d items committed, want 6", n)
	}
}

// TestFailedCommitIsTriedAgainThenReported: a flush that fails twice is
// tried a third time; one that always fails is reported to every item
// after Tries attempts.
func TestFailedCommitIsTriedAgainThenReported(t *testing.T) {
	t.Parallel()
	s := &sink{fail: 2}
	c := New(Config[int]{Flush: s.flush, FirstWait: time.Millisecond, Log: quiet()})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Loop(ctx)
	if err := c.Do(context.Background(), 1); err != nil {
		t.Fatalf("after two failures: %v", err)
	}
	s.mu.Lock()
	s.fail = 100
	s.mu.Unlock()
	if err := c.Do(context.Background(), 2); err == nil {
		t.Fatal("a flush that always fails was acknowledged as committed")
	}
	s.mu.Lock()
	left := s.fail
	s.mu.Unlock()
	if left != 96 {
		t.Errorf("%d tries, want 4", 100-left)
	}
}
