package worker_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/internal/smtptest"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
	"github.com/kizuna-alumni/kizuna/internal/testredis"
)

// The worker asks the relay about 8BITMIME before it prepares a version:
// with it, messages go 8bit with BODY=8BITMIME. When the relay stops
// offering it, the first 8bit message is refused before MAIL
// (mailer.ErrNo8BitMIME); the worker forgets the capability and its
// prepared versions, gives the delivery back without an attempt, and
// sends everything again encoded for a relay without 8BITMIME: every
// delivery once, with one attempt, and no 8bit body reaches that relay.
func TestEightBitFollowsTheRelay(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	rd := testredis.New(t)
	srv := smtptest.Start(t)
	seedAlumni(t, db, 10)
	inProcess(t, db, rd.URL, srv.URL(), nil)

	first := startRun(t, db, rd.URL, newsletter("eight-a"))
	waitRun(t, db, first.ID, 30*time.Second)
	eight := 0
	for _, m := range srv.Messages() {
		if strings.Contains(string(m.Data), "Content-Transfer-Encoding: 8bit") {
			eight++
		}
	}
	if eight != 10 {
		t.Fatalf("%d of 10 messages 8bit to a relay with 8BITMIME", eight)
	}

	srv.SetNo8BitMIME(true)
	if err := srv.Stop(); err != nil { // the kept sessions end; new ones see no 8BITMIME
		t.Fatal(err)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	before := len(srv.Messages())
	second := startRun(t, db, rd.URL, newsletter("eight-b"))
	waitRun(t, db, second.ID, 30*time.Second)
	msgs := srv.Messages()[before:]
	if len(msgs) != 10 {
		t.Fatalf("%d messages of the second run, want 10", len(msgs))
	}
	for _, m := range msgs {
		if strings.Contains(string(m.Data), "Content-Transfer-Encoding: 8bit") {
			t.Fatalf("an 8bit message reached a relay without 8BITMIME:\n%s", m.Data)
		}
	}
	var bad int
	db.Get(&bad, `SELECT count(*) FROM deliveries WHERE run_id = $1 AND (state <> 'sent' OR attempts <> 1)`, second.ID)
	if bad != 0 {
		t.Errorf("%d deliveries of the second run not sent once with one attempt", bad)
	}
}
