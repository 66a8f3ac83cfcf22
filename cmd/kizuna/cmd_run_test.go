package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/internal/smtptest"
)

func TestRunSchedulesAndSendsInOneProcess(t *testing.T) {
	t.Parallel()
	db, env := startEnv(t)
	relay := smtptest.Start(t)
	env["KIZUNA_SMTP_URL"] = relay.URL()
	at := time.Now().Add(4 * time.Second).Format(time.RFC3339) // ahead of a slow start; RFC 3339 drops the fraction
	env["KIZUNA_CAMPAIGNS"] = campaignFolder(t, map[string]string{"due-soon": "schedule:\n  at: " + at})

	if code, _, errOut := runApp(t, map[string]string{"KIZUNA_DATABASE_URL": db.URL, "KIZUNA_CAMPAIGNS": env["KIZUNA_CAMPAIGNS"]}, "run"); code != 2 || !strings.Contains(errOut, "KIZUNA_SECRET") {
		t.Errorf("without a secret: exit %d, %q", code, errOut)
	}

	done, cancel, errOut := startApp(t, env, "run")

	if !relay.WaitFor(2, 60*time.Second) {
		cancel()
		<-done
		t.Fatalf("the relay got %d messages, want 2\n%s", relay.Accepted(), errOut.String())
	}
	// Both parts stop on the signal (here: the context), within the 30 s of SPEC.md.
	stopped := time.Now()
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after stop, want 0\n%s", code, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("kizuna run did not stop within 30 s")
	}
	t.Logf("stopped in %v", time.Since(stopped))

	code, js, _ := runApp(t, env, "campaign", "status", "due-soon", "--json")
	var doc statusDoc
	if code != 0 || json.Unmarshal([]byte(js), &doc) != nil || len(doc.Runs) != 1 {
		t.Fatalf("status: exit %d, %s", code, js)
	}
	if r := doc.Runs[0]; r.Sent != 2 || r.Pending != 0 || r.State != "done" {
		t.Errorf("run after sending: %+v; want 2 sent, 0 pending, done", r)
	}
	if n := len(relay.Messages()); n != 2 {
		t.Errorf("relay got %d messages, want exactly 2 (nothing twice)", n)
	}
}
