package worker_test

import (
	"mime"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/internal/smtptest"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
	"github.com/kizuna-alumni/kizuna/internal/testredis"
)

// The campaign's fallback travels with the stored campaign version to the
// worker: a recipient without a family name receives "アルムナイの皆様 …",
// one with a name receives their name, and nobody receives "様 …".
func TestSentMessagesCarryFallbacks(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	rd := testredis.New(t)
	srv := smtptest.Start(t)
	testdb.Alumni(t, db,
		testdb.Alumnus{Email: "nameless@example.jp", Locale: "ja", Consent: true},
		testdb.Alumnus{Email: "named@example.jp", FamilyName: "山田", GivenName: "太郎", Department: "開発部", Locale: "ja", Consent: true},
		testdb.Alumnus{Email: "given@example.jp", FamilyName: "Smith", Locale: "en", Consent: true})
	c := newsletter("fallbacks")
	c.Fallback = map[string]map[string]string{"ja": {"FamilyName": "アルムナイの皆", "Department": "各部署"}, "en": {"GivenName": "friend"}}
	run := startRun(t, db, rd.URL, c)
	inProcess(t, db, rd.URL, srv.URL(), nil)
	waitRun(t, db, run.ID, 30*time.Second)

	want := map[string]string{
		"nameless@example.jp": "アルムナイの皆様 アルムナイ通信",
		"named@example.jp":    "山田様 アルムナイ通信",
		"given@example.jp":    "Alumni news for friend",
	}
	dec := new(mime.WordDecoder)
	got := map[string]string{}
	for _, m := range srv.Messages() {
		subj, err := dec.DecodeHeader(m.Header("Subject"))
		if err != nil {
			t.Fatalf("subject %q: %v", m.Header("Subject"), err)
		}
		got[m.To[0]] = subj
	}
	for to, s := range want {
		if got[to] != s {
			t.Errorf("%s: subject %q, want %q", to, got[to], s)
		}
	}
}
