package worker_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/kizuna-alumni/kizuna/internal/render"
	"github.com/kizuna-alumni/kizuna/internal/smtptest"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
	"github.com/kizuna-alumni/kizuna/internal/testredis"
	"github.com/kizuna-alumni/kizuna/worker"
)

// What the worker sends names the run by the number `campaign status`
// shows (run 1 of the campaign), not by the database's run ID, in
// Feedback-ID and Message-ID; each recorded Message-ID is d{delivery}.1.…;
// and every message, as the relay received it, carries a DKIM signature
// that verifies against the public key.
func TestMessagesNameTheRunNumberAndVerify(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	rd := testredis.New(t)
	srv := smtptest.Start(t)
	seedAlumni(t, db, 12)
	// Run IDs are database-wide, run numbers per campaign: make them differ.
	if _, err := db.Exec(`SELECT setval('runs_id_seq', 500)`); err != nil {
		t.Fatal(err)
	}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	run := startRun(t, db, rd.URL, newsletter("news"))
	if run.ID == int64(run.Number) || run.Number != 1 {
		t.Fatalf("run ID %d, number %d: want a first run whose ID differs", run.ID, run.Number)
	}
	inProcess(t, db, rd.URL, srv.URL(), func(o *worker.Options) {
		deps, err := worker.NewDeps(worker.Setup{SMTPURL: srv.URL(), BaseURL: "https://alumni.example.co.jp", Secret: []byte(testSecret),
			RetryBase: 200 * time.Millisecond, DKIM: &render.DKIM{Domain: "example.co.jp", Selector: "kizuna", Key: key}})
		if err != nil {
			t.Fatal(err)
		}
		o.Deps = deps
	})
	waitRun(t, db, run.ID, 30*time.Second)
	checkEveryone(t, srv, 12)

	var recorded []struct {
		ID        int64  `db:"id"`
		MessageID string `db:"message_id"`
	}
	if err := db.Select(&recorded, `SELECT id, message_id FROM deliveries WHERE run_id = $1`, run.ID); err != nil {
		t.Fatal(err)
	}
	sent := map[string]bool{}
	record := "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	lookup := func(name string) ([]string, error) {
		if name != "kizuna._domainkey.example.co.jp" {
			return nil, fmt.Errorf("no TXT record for %s", name)
		}
		return []string{record}, nil
	}
	for _, m := range srv.Messages() {
		sent[m.Header("Message-ID")] = true
		if got, want := m.Header("Feedback-ID"), "news:1:kizuna:example.co.jp"; got != want {
			t.Errorf("%v: Feedback-ID %q, want %q", m.To, got, want)
		}
		vs, err := dkim.VerifyWithOptions(bytes.NewReader(m.Data), &dkim.VerifyOptions{LookupTXT: lookup})
		if err != nil || len(vs) != 1 {
			t.Errorf("%v: DKIM verification %v, %v; want one signature", m.To, vs, err)
		} else if vs[0].Err != nil {
			t.Errorf("%v: DKIM signature does not verify: %v", m.To, vs[0].Err)
		}
	}
	if len(recorded) != 12 {
		t.Fatalf("%d deliveries recorded, want 12", len(recorded))
	}
	for _, d := range recorded {
		re := regexp.MustCompile(fmt.Sprintf(`^d%d\.1\.[a-z2-7]{16}@example\.co\.jp$`, d.ID))
		if !re.MatchString(d.MessageID) || !sent["<"+d.MessageID+">"] {
			t.Errorf("delivery %d: recorded Message-ID %q; want d%d.1.DIGEST@example.co.jp as sent", d.ID, d.MessageID, d.ID)
		}
	}
	if t.Failed() {
		t.Logf("run ID %d, number %d; a message:\n%s", run.ID, run.Number, strings.SplitN(string(srv.Messages()[0].Data), "\r\n\r\n", 2)[0])
	}
}
