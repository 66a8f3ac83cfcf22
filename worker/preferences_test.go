package worker_test

import (
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/internal/roster"
	"github.com/kizuna-alumni/kizuna/internal/smtptest"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
	"github.com/kizuna-alumni/kizuna/internal/testredis"
)

// TestPreferenceSavedMidRunIsHonoured: a person who chose "only event
// invitations" on the unsubscribe page after the run was expanded (their
// delivery is already queued) gets no newsletter; the send-time check
// suppresses it and says why. Those who want newsletters, or everything,
// still get it.
func TestPreferenceSavedMidRunIsHonoured(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	rd := testredis.New(t)
	srv := smtptest.Start(t)
	ids := seedAlumni(t, db, 6)
	run := startRun(t, db, rd.URL, newsletter("news"))
	// After expansion, before any worker claims: the run is already sending.
	if err := roster.SetPreferences(t.Context(), db, ids[1], roster.MailEvent, "ja"); err != nil {
		t.Fatal(err)
	}
	if err := roster.SetPreferences(t.Context(), db, ids[2], roster.MailNewsletter, "en"); err != nil {
		t.Fatal(err)
	}
	inProcess(t, db, rd.URL, srv.URL(), nil)
	waitRun(t, db, run.ID, 30*time.Second)

	got := perRecipient(srv)
	if got["r1@example.jp"] != 0 {
		t.Errorf("r1 chose only event invitations but got %d newsletter(s)", got["r1@example.jp"])
	}
	for _, to := range []string{"r0@example.jp", "r2@example.jp", "r3@example.jp", "r4@example.jp", "r5@example.jp"} {
		if got[to] != 1 {
			t.Errorf("%s got %d messages, want 1", to, got[to])
		}
	}
	var st struct {
		State string `db:"state"`
		Reply string `db:"smtp_reply"`
	}
	if err := db.Get(&st, `SELECT state, smtp_reply FROM deliveries WHERE run_id = $1 AND alumni_id = $2`, run.ID, ids[1]); err != nil {
		t.Fatal(err)
	}
	if st.State != "suppressed" || st.Reply != "preference: only event invitations" {
		t.Errorf("r1's delivery: %s %q, want suppressed \"preference: only event invitations\"", st.State, st.Reply)
	}
}
