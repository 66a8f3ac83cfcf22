package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/internal/store"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
)

// failuresEnv is controlEnv with run 1 of sent-news finished: a sent,
// b failed after 8 temporary failures, c hard-bounced (bounced, suppressed)
// and d (added to the run) failed and was then forgotten.
func failuresEnv(t *testing.T) (*testdb.DB, map[string]string) {
	t.Helper()
	db, env := controlEnv(t)
	testdb.Alumni(t, db, testdb.Alumnus{Email: "d@example.jp", FamilyName: "田中", Consent: true})
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO deliveries (run_id, alumni_id) SELECT r.id, a.id FROM runs r, alumni a WHERE r.campaign_id = 'sent-news' AND a.email = 'd@example.jp'`, nil},
		{`UPDATE deliveries d SET state = 'sent', sent_at = now(), attempts = 1, smtp_reply = '250 2.0.0 OK queued'
			FROM alumni a WHERE a.id = d.alumni_id AND a.email = 'a@example.jp'`, nil},
		{`UPDATE deliveries d SET state = 'failed', attempts = 8, smtp_reply = E'451 4.3.0 mailbox busy\r\ntry later'
			FROM alumni a WHERE a.id = d.alumni_id AND a.email IN ('b@example.jp', 'd@example.jp')`, nil},
		{`UPDATE deliveries d SET state = 'failed', attempts = 1, smtp_reply = '550 5.1.1 <c@example.jp>: no such user'
			FROM alumni a WHERE a.id = d.alumni_id AND a.email = 'c@example.jp'`, nil},
		{`INSERT INTO delivery_events (delivery_id, kind, classification, detail)
			SELECT d.id, 'bounce', 'smtp', '{"type": "hard"}' FROM deliveries d JOIN alumni a ON a.id = d.alumni_id WHERE a.email = 'c@example.jp'`, nil},
		{`UPDATE alumni SET status = 'bounced' WHERE email = 'c@example.jp'`, nil},
		{`INSERT INTO suppressions (email_hash, reason) VALUES ($1, 'bounced'), ($2, 'forgotten')`,
			[]any{store.HashEmail("c@example.jp"), store.HashEmail("d@example.jp")}},
		{`UPDATE deliveries d SET smtp_reply = '' FROM alumni a WHERE a.id = d.alumni_id AND a.email = 'd@example.jp'`, nil},
		{`UPDATE alumni SET status = 'forgotten', email = NULL WHERE email = 'd@example.jp'`, nil},
		{`UPDATE runs SET state = 'done', finished_at = now() WHERE campaign_id = 'sent-news'`, nil},
	} {
		if _, err := db.Exec(q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	return db, env
}

func TestCampaignStatusFailures(t *testing.T) {
	t.Parallel()
	_, env := failuresEnv(t)

	code, out, errOut := runApp(t, env, "campaign", "status", "sent-news", "--failures")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"run 1: 3 failed", "b@example.jp", "(forgotten)", "JST",
		"451 4.3.0 mailbox busy try later", "550 5.1.1 <c@example.jp>: no such user", "HARD BOUNCE"} {
		if !strings.Contains(out, want) {
			t.Errorf("--failures lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "a@example.jp") {
		t.Errorf("a sent delivery is listed as failed:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "c@example.jp") && !strings.Contains(line, "yes") {
			t.Errorf("c's hard bounce is not marked: %q", line)
		}
		if strings.Contains(line, "b@example.jp") && !strings.Contains(line, " 8 ") {
			t.Errorf("b's attempts are not shown: %q", line)
		}
	}

	code, out, errOut = runApp(t, env, "campaign", "status", "sent-news", "--failures", "--json", "--run", "1")
	if code != 0 {
		t.Fatalf("--json: exit %d: %s", code, errOut)
	}
	var doc struct {
		ID   string
		Runs []map[string]json.RawMessage
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Runs) != 1 {
		t.Fatalf("not one document with one run: %v\n%s", err, out)
	}
	for _, k := range []string{"run", "state", "total", "failed", "bounced", "failures"} {
		if _, ok := doc.Runs[0][k]; !ok {
			t.Errorf("run lacks %q", k)
		}
	}
	if string(doc.Runs[0]["failed"]) != "3" || string(doc.Runs[0]["state"]) != `"done"` {
		t.Errorf("failed = %s, state = %s; the existing keys changed", doc.Runs[0]["failed"], doc.Runs[0]["state"])
	}
	var failures []struct {
		Delivery   int64   `json:"delivery"`
		Email      *string `json:"email"`
		At         string  `json:"at"`
		Attempts   int     `json:"attempts"`
		Reply      string  `json:"reply"`
		HardBounce bool    `json:"hard_bounce"`
	}
	if err := json.Unmarshal(doc.Runs[0]["failures"], &failures); err != nil || len(failures) != 3 {
		t.Fatalf("failures: %v\n%s", err, doc.Runs[0]["failures"])
	}
	seen := map[string]bool{}
	for _, f := range failures {
		key := "(null)"
		if f.Email != nil {
			key = *f.Email
		}
		seen[key] = true
		if at, err := time.Parse(time.RFC3339, f.At); err != nil || !strings.HasSuffix(f.At, "Z") || time.Since(at) > time.Hour {
			t.Errorf("%s: at %q is not the failure time in RFC 3339 UTC", key, f.At)
		}
		if f.Delivery == 0 {
			t.Errorf("%s: no delivery id", key)
		}
		switch key {
		case "c@example.jp":
			if !f.HardBounce || !strings.HasPrefix(f.Reply, "550 5.1.1") || f.Attempts != 1 {
				t.Errorf("c = %+v", f)
			}
		case "b@example.jp":
			if f.HardBounce || f.Attempts != 8 || !strings.HasPrefix(f.Reply, "451") {
				t.Errorf("b = %+v", f)
			}
		}
	}
	if !seen["b@example.jp"] || !seen["c@example.jp"] || !seen["(null)"] {
		t.Errorf("failures went to %v; want b, c and a forgotten person (email null)", seen)
	}

	// Without --failures the document is unchanged (no "failures" key).
	_, out, _ = runApp(t, env, "campaign", "status", "sent-news", "--json")
	if strings.Contains(out, `"failures"`) {
		t.Errorf("status --json without --failures lists failures:\n%s", out)
	}
	// An unknown run is bad usage, with one JSON document.
	code, out, _ = runApp(t, env, "campaign", "status", "sent-news", "--failures", "--json", "--run", "2")
	var e map[string]string
	if code != 2 || json.Unmarshal([]byte(out), &e) != nil || !strings.Contains(e["error"], "no run 2") {
		t.Errorf("--run 2: exit %d, %s", code, out)
	}
}

func TestCampaignRetry(t *testing.T) {
	t.Parallel()
	db, env := failuresEnv(t)
	states := func() string {
		var s []string
		db.Select(&s, `SELECT coalesce(a.email, '-') || '=' || d.state || '/' || d.attempts FROM deliveries d JOIN alumni a ON a.id = d.alumni_id ORDER BY a.id`)
		var run string
		db.Get(&run, `SELECT state FROM runs WHERE campaign_id = 'sent-news'`)
		return strings.Join(s, " ") + " run=" + run
	}

	code, out, errOut := runApp(t, env, "campaign", "retry", "sent-news")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	if want := "a@example.jp=sent/1 b@example.jp=pending/0 c@example.jp=failed/1 -=failed/8 run=sending"; states() != want {
		t.Errorf("after retry: %s\nwant %s", states(), want)
	}
	for _, want := range []string{"queued 1 failed delivery again", "skipped 2", "1 bounced", "1 suppressed or forgotten", "done → sending"} {
		if !strings.Contains(out, want) {
			t.Errorf("retry output lacks %q:\n%s", want, out)
		}
	}

	// Once: b is still pending, so a second retry queues nothing.
	code, out, _ = runApp(t, env, "campaign", "retry", "sent-news", "--run", "1")
	if code != 0 || !strings.Contains(out, "queued 0 failed deliveries") {
		t.Errorf("second retry: exit %d\n%s", code, out)
	}
	var n int
	db.Get(&n, `SELECT count(*) FROM deliveries`)
	if n != 4 {
		t.Errorf("%d deliveries after two retries, want the same 4", n)
	}

	// Bad usage: unknown campaign, unknown run; a paused run is refused.
	if code, _, errOut := runApp(t, env, "campaign", "retry", "nope"); code != 2 || !strings.Contains(errOut, "nope") {
		t.Errorf("unknown campaign: exit %d %s", code, errOut)
	}
	if code, _, errOut := runApp(t, env, "campaign", "retry", "sent-news", "--run", "9"); code != 2 || !strings.Contains(errOut, "no run 9") {
		t.Errorf("unknown run: exit %d %s", code, errOut)
	}
	db.Exec(`UPDATE deliveries SET state = 'failed' WHERE state = 'pending'`)
	db.Exec(`UPDATE runs SET state = 'paused' WHERE campaign_id = 'sent-news'`)
	code, _, errOut = runApp(t, env, "campaign", "retry", "sent-news")
	if code != 2 || !strings.Contains(errOut, "resume it first") || !strings.Contains(errOut, "kizuna campaign resume sent-news --run 1") {
		t.Errorf("paused run: exit %d %s", code, errOut)
	}
	if want := "a@example.jp=sent/1 b@example.jp=failed/0 c@example.jp=failed/1 -=failed/8 run=paused"; states() != want {
		t.Errorf("a refused retry changed something: %s", states())
	}
	db.Exec(`UPDATE runs SET state = 'cancelled' WHERE campaign_id = 'sent-news'`)
	if code, _, errOut := runApp(t, env, "campaign", "retry", "sent-news"); code != 2 || !strings.Contains(errOut, "cancelled") {
		t.Errorf("cancelled run: exit %d %s", code, errOut)
	}
	// A campaign without runs has nothing to retry.
	if code, out, _ := runApp(t, env, "campaign", "retry", "later"); code != 0 || !strings.Contains(out, "no runs") {
		t.Errorf("no runs: exit %d %s", code, out)
	}
}

func TestAlumniShowDeliveryTimeAndReply(t *testing.T) {
	t.Parallel()
	_, env := failuresEnv(t)
	code, out, errOut := runApp(t, env, "alumni", "show", "b@example.jp")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var line string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "sent-news") {
			line = l
		}
	}
	if !strings.Contains(line, "JST") || !strings.Contains(line, "failed") || !strings.Contains(line, "451 4.3.0 mailbox busy try later") {
		t.Errorf("the failed delivery's line lacks its time with zone or the relay's reply: %q\n%s", line, out)
	}

	code, out, _ = runApp(t, env, "alumni", "show", "--json", "a@example.jp")
	var doc struct {
		Email   string           `json:"email"`
		History []map[string]any `json:"history"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 0 || len(doc.History) != 1 {
		t.Fatalf("show --json: %d %v\n%s", code, err, out)
	}
	h := doc.History[0]
	if h["type"] != "delivery" || h["state"] != "sent" || h["run"] != 1.0 || h["campaign_id"] != "sent-news" ||
		h["reply"] != "250 2.0.0 OK queued" || h["at"] == nil {
		t.Errorf("history[0] = %v, want the sent delivery with its time and reply", h)
	}
	_, out, _ = runApp(t, env, "alumni", "show", "--json", "b@example.jp")
	json.Unmarshal([]byte(out), &doc)
	if h := doc.History[0]; h["at"] == nil || h["reply"] != "451 4.3.0 mailbox busy\r\ntry later" {
		t.Errorf("failed delivery = %v, want its failure time and reply", h)
	}
}
