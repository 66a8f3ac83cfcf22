package worker_test

import (
	"context"
	"mime"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/smtptest"
	"github.com/kizuna-alumni/kizuna/internal/tasks"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
	"github.com/kizuna-alumni/kizuna/internal/testredis"
	"github.com/kizuna-alumni/kizuna/worker"
)

// TestConfirmationGoesAheadOfABulkRunAndOutsideTheWindow: while a bulk run
// of 1,200 messages is being sent by two goroutines (slowly: the relay
// takes 25 ms a message, so a task of 200 takes 5 s and four more tasks
// wait in the queue, 10 s of work), an answer to an event whose send
// window is closed is confirmed within a second or two by the urgent
// queue's own goroutines, while the invitation itself still waits for
// the window.
func TestConfirmationGoesAheadOfABulkRunAndOutsideTheWindow(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	rd := testredis.New(t)
	srv := smtptest.Start(t)
	srv.SetFault(func(stage smtptest.Stage, _ string, _ []string) error {
		if stage == smtptest.StageMail {
			time.Sleep(25 * time.Millisecond)
		}
		return nil
	})
	seedAlumni(t, db, 1200)
	bulk := startRun(t, db, rd.URL, newsletter("bulk"))

	guest := testdb.Alumni(t, db, testdb.Alumnus{Email: "guest@example.jp", FamilyName: "佐藤", GivenName: "花子", Consent: true, Tags: []string{"guest"}})[0]
	ev := newsletter("evening")
	ev.Kind = campaigns.KindEvent
	ev.Audience.TagsAny = []string{"guest"}
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	now := time.Now().In(tokyo)
	start := (now.Hour()*60 + now.Minute() + 180) % 1440 // the window opens in three hours
	ev.Schedule.Window = &campaigns.Window{StartMinute: start, EndMinute: (start + 60) % 1440}
	starts := time.Now().Add(30 * 24 * time.Hour).Truncate(time.Hour)
	ev.Event = &campaigns.Event{Title: "年末アルムナイ交流会", StartsAt: starts, EndsAt: starts.Add(2 * time.Hour), Location: "東京都渋谷区", Capacity: 10}
	invitation := startRun(t, db, rd.URL, ev)
	var delivery int64
	if err := db.Get(&delivery, `SELECT id FROM deliveries WHERE run_id = $1 AND alumni_id = $2`, invitation.ID, guest); err != nil {
		t.Fatal(err)
	}

	inProcess(t, db, rd.URL, srv.URL(), func(o *worker.Options) { o.Concurrency = 2 })
	if !srv.WaitFor(20, 10*time.Second) {
		t.Fatal("the bulk run did not start")
	}
	opt, _ := asynq.ParseRedisURI(rd.URL)
	client := asynq.NewClient(opt)
	defer client.Close()
	answered := time.Now()
	if _, err := runs.RecordRSVP(context.Background(), db.DB, runs.Answer{DeliveryID: delivery, Answer: runs.AnswerYes, At: answered, Via: "web"},
		runs.EnqueueTasks(tasks.NewEnqueuer(client))); err != nil {
		t.Fatal(err)
	}
	var confirmation *smtptest.Message
	for deadline := time.Now().Add(3 * time.Second); confirmation == nil; {
		for _, m := range srv.Messages() {
			if m.To[0] == "guest@example.jp" {
				confirmation = &m
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no confirmation within 3 s: it waited behind the bulk run")
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(answered)
	var pending int
	db.Get(&pending, `SELECT count(*) FROM deliveries WHERE run_id = $1 AND state IN ('pending', 'sending')`, bulk.ID)
	if pending < 200 {
		t.Fatalf("the bulk run had only %d deliveries left when the confirmation went out: the test proves nothing", pending)
	}
	t.Logf("confirmation sent %s after the answer, with %d bulk deliveries still to go", took.Round(time.Millisecond), pending)
	subject, _ := new(mime.WordDecoder).DecodeHeader(confirmation.Header("Subject"))
	data := string(confirmation.Data)
	if !strings.Contains(subject, "年末アルムナイ交流会") || !strings.Contains(data, "method=REQUEST") {
		t.Fatalf("confirmation subject %q; calendar part with method=REQUEST present: %v", subject, strings.Contains(data, "method=REQUEST"))
	}
	var invState string
	db.Get(&invState, `SELECT state FROM deliveries WHERE id = $1`, delivery)
	if invState != "pending" {
		t.Fatalf("the invitation is %s; it must still wait for its window", invState)
	}
}
