package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/internal/smtptest"
	"github.com/kizuna-alumni/kizuna/internal/testbin"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
)

// TestSecretsNeverLeak runs commands that fail because of a service that
// does not answer, refuses the password, or a URL that does not parse, and
// checks that no password and not the signing secret appear on stdout or
// stderr (SPEC.md: secrets never appear in logs or error messages).
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	const (
		secret    = "signing-secret-Kq93-0123456789abcdef-0123456789"
		dbPass    = "Db-P@ss:w/rd-q7"
		dbPassEnc = "Db-P%40ss%3Aw%2Frd-q7"
		smtpPass  = "Smtp-Pa55-r8"
		redisPass = "Redis-Pa55-z3"
		wrongPass = "Wrong-Pa55-k2"
	)
	secrets := []string{secret, dbPass, dbPassEnc, smtpPass, redisPass, wrongPass}
	db := testdb.New(t)
	relay := smtptest.Start(t)
	relay.RequireAuth("kizuna", smtpPass)
	down := freeAddr(t)
	dir := t.TempDir()
	copyExample(t, dir, "kizuna.yaml")
	campaign := copyExample(t, dir, launchID+".yaml")
	roster := writeFile(t, dir, "alumni.csv", []byte("email,name,consent\nsecret.keeper@example.jp,秘密 守,はい\n"))

	base := map[string]string{
		"KIZUNA_DATABASE_URL": db.URL,
		"KIZUNA_SMTP_URL":     relay.URL(),
		"KIZUNA_REDIS_URL":    "redis://" + down + "/0",
		"KIZUNA_SECRET":       secret,
		"KIZUNA_BASE_URL":     baseURL,
	}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range base {
			m[a] = b
		}
		m[k] = v
		return m
	}
	dbDown := "postgres://kizuna:" + dbPassEnc + "@" + down + "/kizuna?sslmode=disable"
	// relayWith is the test relay's URL with these credentials.
	relayWith := func(user, pass string) string {
		return "smtp://" + user + ":" + pass + "@" + relay.Addr + "?tls=none"
	}
	cases := []struct {
		name string
		vars map[string]string
		args []string
		code int
	}{
		{"migrate, database down", with("KIZUNA_DATABASE_URL", dbDown), []string{"migrate"}, 1},
		{"migrate, database URL that does not parse", with("KIZUNA_DATABASE_URL", "postgres://kizuna:"+dbPassEnc+"%zz@"+down+"/kizuna"), []string{"migrate"}, 2},
		{"import --json, database down", with("KIZUNA_DATABASE_URL", dbDown), []string{"alumni", "import", roster, "--json"}, 1},
		{"status --json, database down", with("KIZUNA_DATABASE_URL", dbDown), []string{"campaign", "status", launchID, "--json"}, 1},
		{"send-test, relay down", with("KIZUNA_SMTP_URL", "smtp://kizuna:"+smtpPass+"@"+down+"?tls=none"),
			[]string{"campaign", "send-test", campaign, "--to", "hr@example.co.jp"}, 1},
		{"send-test, relay refuses the password", with("KIZUNA_SMTP_URL", relayWith("kizuna", wrongPass)),
			[]string{"campaign", "send-test", campaign, "--to", "hr@example.co.jp"}, 1},
		{"send-test, relay URL that does not parse", with("KIZUNA_SMTP_URL", "smtp://kizuna:"+smtpPass+"%zz@"+down),
			[]string{"campaign", "send-test", campaign, "--to", "hr@example.co.jp"}, 2},
		{"send-test, secret too short", with("KIZUNA_SECRET", secret[:20]),
			[]string{"campaign", "send-test", campaign, "--to", "hr@example.co.jp"}, 2},
		{"start, database down", with("KIZUNA_DATABASE_URL", dbDown), []string{"campaign", "start", campaign, "--yes"}, 1},
	}
	for _, c := range cases {
		r := kizuna(t, c.vars, c.args...)
		if r.Code != c.code {
			t.Errorf("%s: exit %d, want %d\n%s", c.name, r.Code, c.code, r)
		}
		if strings.TrimSpace(r.Stderr+r.Stdout) == "" {
			t.Errorf("%s: failed without saying why", c.name)
		}
		for _, s := range secrets {
			if strings.Contains(r.Stdout, s) || strings.Contains(r.Stderr, s) {
				t.Errorf("%s: %q leaked\n%s", c.name, s, r)
			}
		}
	}

	// The right password works, so the refusal above was the relay's.
	ok := kizuna(t, with("KIZUNA_SMTP_URL", relayWith("kizuna", smtpPass)), "campaign", "send-test", campaign, "--to", "hr@example.co.jp")
	if ok.Code != 0 || relay.Accepted() != 1 {
		t.Errorf("send-test with the right password: exit %d, relay accepted %d\n%s", ok.Code, relay.Accepted(), ok)
	}

	// A worker whose Redis does not answer keeps trying and logging; its
	// logs must not carry the Redis password either.
	e := &env{vars: with("KIZUNA_REDIS_URL", "redis://:"+redisPass+"@"+down+"/0"), db: db, relay: relay}
	w := e.start(t, "worker, Redis down", "worker")
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(w.Output(), "connection refused") {
		w.Alive(t)
		if time.Now().After(deadline) {
			t.Fatalf("the worker never reported the unreachable Redis:\n%s", w.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
	w.Terminate(t, 30*time.Second)
	for _, s := range secrets {
		if strings.Contains(w.Output(), s) {
			t.Errorf("worker with Redis down: %q leaked\n%s", s, testbin.Tail(w.Output(), 4000))
		}
	}
}
