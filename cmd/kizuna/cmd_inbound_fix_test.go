package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kizuna-alumni/kizuna/internal/inbound"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
	"github.com/kizuna-alumni/kizuna/internal/token"
)

// storeRaw stores raw messages through the intake and processes them; it
// returns their ids.
func storeRaw(t *testing.T, db *testdb.DB, raws ...string) []int64 {
	t.Helper()
	p, err := inbound.New(inbound.Options{DB: db.DB, Address: "reply@in.example.co.jp", Signer: token.New([]byte(testSecret))})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, raw := range raws {
		id, _, err := p.Store(context.Background(), inbound.SourceIMAP, "", nil, []byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if _, err := p.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	return ids
}

// columnAt is the display column where field starts in line.
func columnAt(line, field string) int {
	i := strings.Index(line, field)
	if i < 0 {
		return -1
	}
	return displayWidth(line[:i])
}

// `inbound list` shows no control character a sender put in a Subject or
// From (an ESC sequence would colour the terminal): they are escaped; and
// its columns line up after Japanese text (display width, not bytes or
// runes). `inbound show` escapes them too.
func TestInboundListEscapesControlsAndAligns(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	// Subject: ESC[31m red ESC[0m, C1 CSI (U+009B), in an RFC 2047 word.
	evil := "From: =?UTF-8?B?" + b64("\x1b]0;pwned\x07") + "?= <evil@example.net>\r\nSubject: =?UTF-8?B?" +
		b64("\x1b[31mred\x1b[0m \u009b2J bye") + "?=\r\nMessage-ID: <e1@example.net>\r\n\r\nbody \x1b[31mred\r\n"
	jp := "From: yamada@example.jp\r\nSubject: =?UTF-8?B?" + b64("同窓会のご案内ありがとうございます") +
		"?=\r\nMessage-ID: <j1@example.jp>\r\n\r\nはい\r\n"
	ids := storeRaw(t, db, evil, jp)
	env := map[string]string{"KIZUNA_DATABASE_URL": db.URL}
	code, out, errOut := runApp(t, env, "inbound", "list")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.ContainsAny(out, "\x1b\x07\u009b") {
		t.Errorf("control characters reach the terminal:\n%q", out)
	}
	if !strings.Contains(out, `\x1b[31mred\x1b[0m \x9b2J bye`) {
		t.Errorf("the subject is not shown escaped:\n%s", out)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines:\n%s", len(lines), out)
	}
	// The CLASS column (human_reply in both rows) starts at one column.
	want := columnAt(lines[0], "CLASS")
	for _, l := range lines[1:] {
		if got := columnAt(l, "human_reply"); got != want {
			t.Errorf("CLASS at column %d, human_reply at %d in %q", want, got, l)
		}
	}

	code, out, _ = runApp(t, env, "inbound", "show", strconv.FormatInt(ids[0], 10))
	if code != 0 || strings.ContainsAny(out, "\x1b\x07\u009b") || !strings.Contains(out, `body \x1b[31mred`) {
		t.Errorf("show: exit %d\n%q", code, out)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// With --json stdout holds one JSON document also when the command fails:
// `inbound list` and `inbound show` with the database down, `inbound show`
// of an unknown id (exit 2).
func TestInboundJSONOnFailure(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "postgres://postgres@" + ln.Addr().String() + "/nothing?sslmode=disable&connect_timeout=2"
	ln.Close()
	for _, args := range [][]string{{"inbound", "list", "--json"}, {"inbound", "show", "1", "--json"}} {
		code, out, _ := runApp(t, map[string]string{"KIZUNA_DATABASE_URL": down}, args...)
		var doc map[string]any
		if err := json.Unmarshal([]byte(out), &doc); err != nil || doc["error"] == nil || code != 1 {
			t.Errorf("%v with the database down: exit %d, stdout %q", args, code, out)
		}
	}
	db := testdb.New(t)
	code, out, _ := runApp(t, map[string]string{"KIZUNA_DATABASE_URL": db.URL}, "inbound", "show", "999", "--json")
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil || doc["error"] == nil || code != 2 {
		t.Errorf("show of an unknown id: exit %d, stdout %q", code, out)
	}
	// A known one: its document.
	ids := storeRaw(t, db, "From: a@example.jp\r\nSubject: hi\r\nMessage-ID: <s1@example.jp>\r\n\r\nhello there\r\n")
	code, out, _ = runApp(t, map[string]string{"KIZUNA_DATABASE_URL": db.URL}, "inbound", "show", strconv.FormatInt(ids[0], 10), "--json")
	var shown inbound.Shown
	if err := json.Unmarshal([]byte(out), &shown); err != nil || code != 0 || strings.TrimSpace(shown.Text) != "hello there" || shown.Class != "human_reply" {
		t.Errorf("show --json: exit %d, %s", code, out)
	}
}

// `inbound classify` classifies every file, reports the unreadable and the
// empty ones (JSON: an element with "error") and exits 2 at the end.
func TestInboundClassifyReportsBadFilesAndGoesOn(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := write("a.eml", "From: a@example.jp\r\nSubject: one\r\nMessage-ID: <a@example.jp>\r\n\r\nhi\r\n")
	empty := write("empty.eml", "\r\n")
	missing := filepath.Join(dir, "missing.eml")
	c := write("c.eml", "From: c@example.jp\r\nSubject: three\r\nMessage-ID: <c@example.jp>\r\n\r\nhi\r\n")

	code, out, errOut := runApp(t, nil, "inbound", "classify", "--json", a, missing, empty, c)
	var got []map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	if code != 2 || len(got) != 4 {
		t.Fatalf("exit %d, %d elements: %s %s", code, len(got), out, errOut)
	}
	for i, wantErr := range []bool{false, true, true, false} {
		if _, has := got[i]["error"]; has != wantErr {
			t.Errorf("element %d: %v (error expected: %v)", i, got[i], wantErr)
		}
	}
	if got[3]["message_id"] != "c@example.jp" || got[1]["file"] != missing {
		t.Errorf("elements %v", got)
	}

	code, out, errOut = runApp(t, nil, "inbound", "classify", a, missing, empty, c)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 2 || len(lines) != 2 || !strings.Contains(errOut, missing) || !strings.Contains(errOut, empty) {
		t.Errorf("text: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// An unreadable stored message does not make `inbound reprocess` fail: it
// is reported, and the command exits 0. `inbound list` shows it processed.
func TestInboundReprocessReportsUnreadable(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	// An empty message from a mailbox (the listener refuses them).
	p, _ := inbound.New(inbound.Options{DB: db.DB})
	id, _, err := p.Store(context.Background(), inbound.SourceIMAP, "", nil, []byte(""))
	if err != nil {
		t.Fatal(err)
	}
	storeRaw(t, db, "From: a@example.jp\r\nSubject: ok\r\nMessage-ID: <ok@example.jp>\r\n\r\nhi\r\n")
	env := map[string]string{"KIZUNA_DATABASE_URL": db.URL, "KIZUNA_SECRET": testSecret}
	code, out, errOut := runApp(t, env, "inbound", "reprocess")
	if code != 0 || !strings.Contains(out, "reprocessed 2 message(s)") || !strings.Contains(out, "1 message(s) cannot be read") ||
		!strings.Contains(out, strconv.FormatInt(id, 10)+"  classify: empty message") || strings.Contains(out, "classify: classify:") {
		t.Errorf("reprocess: exit %d\n%s\n%s", code, out, errOut)
	}
}

// A wrong KIZUNA_INBOUND_ADDRESS stops every command that reads it with
// exit 2 and what is wrong (not "is not set").
func TestInboundAddressRefusedExit2(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		addr, want string
		args       []string
	}{
		{"notanaddress", "has no @", []string{"inbound"}},
		{"reply@", "has no domain", []string{"worker"}},
		{"Reply <reply@in.example.co.jp>", "without a display name", []string{"run"}},
		{"reply+x@in.example.co.jp", "'+'", []string{"serve"}},
		{"@in.example.co.jp", "no local part", []string{"campaign", "preview", "x"}},
	} {
		code, _, errOut := runApp(t, map[string]string{"KIZUNA_SECRET": testSecret, "KIZUNA_INBOUND_ADDRESS": c.addr,
			"KIZUNA_INBOUND_LISTEN": "127.0.0.1:0"}, c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) || strings.Contains(errOut, "not set") {
			t.Errorf("%v with %q: exit %d, stderr %q", c.args, c.addr, code, errOut)
		}
	}
}
