package tasks_test

import (
	"context"
	"errors"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/kizuna-alumni/kizuna/internal/tasks"
	"github.com/kizuna-alumni/kizuna/internal/testredis"
)

func TestParseSendRejectsBadPayloads(t *testing.T) {
	t.Parallel()
	for _, p := range []string{``, `{`, `{"run":0,"chunk":1,"ids":[1]}`, `{"run":3,"chunk":1,"ids":[]}`,
		`{"run":3,"ids":[5,6]}`, `[1,2]`} {
		if _, err := tasks.ParseSend([]byte(p)); err == nil {
			t.Errorf("ParseSend(%q) accepted a bad payload", p)
		}
	}
	s, err := tasks.ParseSend([]byte(`{"run":3,"chunk":9,"ids":[5,6]}`))
	if err != nil || s.Run != 3 || s.Chunk != 9 || len(s.IDs) != 2 {
		t.Fatalf("ParseSend = %+v, %v", s, err)
	}
}

func TestEnqueueOneTaskPerChunkAndNeverBlocksANewChunk(t *testing.T) {
	t.Parallel()
	rd := testredis.New(t)
	opt, _ := asynq.ParseRedisURI(rd.URL)
	client := asynq.NewClient(opt)
	defer client.Close()
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	e := tasks.NewEnqueuer(client)
	ctx := context.Background()
	ids := make([]int64, tasks.ChunkSize)
	for i := range ids {
		ids[i] = int64(1000 + i)
	}
	if err := e.Chunk(ctx, 7, 41, ids, false); err != nil {
		t.Fatal(err)
	}
	// The same chunk again is the same work: skipped, not an error.
	if err := e.Chunk(ctx, 7, 41, ids, false); err != nil {
		t.Fatal(err)
	}
	if err := e.Chunk(ctx, 7, 42, ids[:10], true); err != nil {
		t.Fatal(err)
	}
	pending, err := insp.ListPendingTasks(tasks.QueueSend)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 {
		t.Fatalf("%d bulk tasks, want 1 for chunk 41", len(pending))
	}
	s, err := tasks.ParseSend(pending[0].Payload)
	if err != nil {
		t.Fatal(err)
	}
	if pending[0].ID != "send:7:c41" || pending[0].ID != tasks.TaskID(7, 41) || s.Chunk != 41 || len(s.IDs) != len(ids) {
		t.Errorf("task %s carries %+v; want send:7:c41 with chunk 41 and its %d deliveries", pending[0].ID, s, len(ids))
	}
	if urgent, err := insp.ListPendingTasks(tasks.QueueUrgent); err != nil || len(urgent) != 1 || urgent[0].ID != tasks.TaskID(7, 42) {
		t.Fatalf("urgent queue = %v, %v; want chunk 42's task", urgent, err)
	}
	// An archived task keeps its ID; the same deliveries handed out again
	// get a new chunk, whose task still gets through.
	if err := insp.ArchiveTask(tasks.QueueSend, tasks.TaskID(7, 41)); err != nil {
		t.Fatal(err)
	}
	if err := e.Chunk(ctx, 7, 43, ids[:100], false); err != nil {
		t.Fatal(err)
	}
	if _, err := insp.GetTaskInfo(tasks.QueueSend, tasks.TaskID(7, 43)); err != nil {
		t.Fatalf("re-enqueue behind an archived task: %v", err)
	}
	if _, err := client.Enqueue(asynq.NewTask(tasks.TypeSend, nil), asynq.Queue(tasks.QueueSend), asynq.TaskID(tasks.TaskID(7, 43))); !errors.Is(err, asynq.ErrTaskIDConflict) {
		t.Fatalf("same chunk again: err = %v, want a TaskID conflict", err)
	}
}
