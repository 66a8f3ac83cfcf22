package tasks_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/kizuna-alumni/kizuna/internal/tasks"
	"github.com/kizuna-alumni/kizuna/internal/testredis"
)

func TestParseSendRejectsBadPayloads(t *testing.T) {
	t.Parallel()
	for _, p := range []string{``, `{`, `{"run":0,"ids":[1]}`, `{"run":3,"ids":[]}`, `[1,2]`} {
		if _, err := tasks.ParseSend([]byte(p)); err == nil {
			t.Errorf("ParseSend(%q) accepted a bad payload", p)
		}
	}
	s, err := tasks.ParseSend([]byte(`{"run":3,"ids":[5,6]}`))
	if err != nil || s.Run != 3 || len(s.IDs) != 2 {
		t.Fatalf("ParseSend = %+v, %v", s, err)
	}
}

func TestEnqueueChunksAndNeverBlocksANewGeneration(t *testing.T) {
	t.Parallel()
	rd := testredis.New(t)
	opt, _ := asynq.ParseRedisURI(rd.URL)
	client := asynq.NewClient(opt)
	defer client.Close()
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	e := tasks.NewEnqueuer(client)
	ctx := context.Background()
	ids := make([]int64, 2*tasks.ChunkSize+50)
	for i := range ids {
		ids[i] = int64(1000 + i)
	}
	if err := e.Expanded(ctx, 7, false, ids); err != nil {
		t.Fatal(err)
	}
	// The same chunks again are the same work: skipped, not an error.
	if err := e.Expanded(ctx, 7, false, ids); err != nil {
		t.Fatal(err)
	}
	pending, err := insp.ListPendingTasks(tasks.QueueSend)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 3 {
		t.Fatalf("%d tasks for %d deliveries, want 3 chunks", len(pending), len(ids))
	}
	seen := 0
	for _, ti := range pending {
		s, err := tasks.ParseSend(ti.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if ti.ID != tasks.TaskID(7, s.IDs[0], "0") {
			t.Errorf("task ID %s does not derive from its first delivery %d", ti.ID, s.IDs[0])
		}
		seen += len(s.IDs)
	}
	if seen != len(ids) {
		t.Fatalf("tasks carry %d deliveries, want %d", seen, len(ids))
	}
	// An archived task keeps its ID; the reconciler's next generation
	// must still get through.
	if err := insp.ArchiveTask(tasks.QueueSend, tasks.TaskID(7, 1000, "0")); err != nil {
		t.Fatal(err)
	}
	if err := e.Deliveries(ctx, 7, ids[:100], "r1", time.Time{}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := insp.GetTaskInfo(tasks.QueueSend, tasks.TaskID(7, 1000, "r1")); err != nil {
		t.Fatalf("re-enqueue behind an archived task: %v", err)
	}
	if _, err := client.Enqueue(asynq.NewTask(tasks.TypeSend, nil), asynq.Queue(tasks.QueueSend), asynq.TaskID(tasks.TaskID(7, 1000, "r1"))); !errors.Is(err, asynq.ErrTaskIDConflict) {
		t.Fatalf("same generation again: err = %v, want a TaskID conflict", err)
	}
}
