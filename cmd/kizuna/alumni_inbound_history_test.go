package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/inbound"
	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
	"github.com/kizuna-alumni/kizuna/internal/token"
)

// dsn is an RFC 3464 delivery status notification for recipient with
// status and the SMTP diagnostic, to the VERP address to.
const dsn = "From: MAILER-DAEMON@mx.example.jp\r\nTo: %[1]s\r\nSubject: Undelivered Mail Returned to Sender\r\n" +
	"Message-ID: <dsn-%[2]s@mx.example.jp>\r\nDate: Thu, 03 Dec 2026 09:00:00 +0900\r\nAuto-Submitted: auto-replied\r\n" +
	"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n" +
	"--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n" +
	"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.jp\r\n\r\n" +
	"Final-Recipient: rfc822; %[2]s\r\nAction: failed\r\nStatus: %[3]s\r\nDiagnostic-Code: smtp; %[4]s\r\n\r\n--B--\r\n"

// HR sees a person's soft bounces and automatic replies in `alumni show`
// (kind, time, reason or subject); `campaign status` counts only hard
// bounces as bounced: a soft bounce and an out-of-office notice leave the
// count at the one hard bounce.
func TestAlumniShowSoftBouncesAndAutoReplies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testdb.New(t)
	people := testdb.Alumni(t, db,
		testdb.Alumnus{Email: "hanako@example.jp", FamilyName: "山田", GivenName: "花子", Consent: true},
		testdb.Alumnus{Email: "john@example.com", GivenName: "John", Locale: "en", Consent: true})
	c := &campaigns.Campaign{ID: "news", Kind: campaigns.KindNewsletter, Digest: "d1",
		Audience: campaigns.Audience{Locales: []string{"ja", "en"}, Consent: "required"}}
	vid, err := runs.RegisterVersion(ctx, db.DB, c)
	if err != nil {
		t.Fatal(err)
	}
	run, _, err := runs.Create(ctx, db.DB, vid, "manual:test", runs.KindSend)
	if err != nil {
		t.Fatal(err)
	}
	d := testdb.Deliveries(t, db, testdb.DeliveriesOpts{Run: run.ID, Alumni: people, State: "sent", SentAt: time.Now().Add(-time.Hour)})

	signer := token.New([]byte(testSecret))
	const address = "reply@in.example.co.jp"
	p, err := inbound.New(inbound.Options{DB: db.DB, Signer: signer, Address: address})
	if err != nil {
		t.Fatal(err)
	}
	verp := func(d int64, purpose token.Purpose, sep string) string {
		return "reply" + sep + signer.SignAddress(token.Claims{Purpose: purpose, DeliveryID: d}) + "@in.example.co.jp"
	}
	autoReply := "From: =?UTF-8?B?5bGx55Sw6Iqx5a2Q?= <hanako@example.jp>\r\nTo: " + verp(d[0], token.Reply, "+") + "\r\n" +
		"Subject: =?UTF-8?B?6Ieq5YuV5b+c562UOiDjgqLjg6vjg6Djg4rjgqTpgJrkv6E=?=\r\nAuto-Submitted: auto-replied\r\n" +
		"Message-ID: <oof-1@example.jp>\r\nDate: Thu, 03 Dec 2026 09:05:00 +0900\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\n12月10日まで不在です。\r\n"
	for _, m := range []struct{ to, raw string }{
		{verp(d[0], token.Bounce, "+b."), fmt.Sprintf(dsn, verp(d[0], token.Bounce, "+b."), "hanako@example.jp", "5.2.2", "552 5.2.2 Mailbox full")},
		{verp(d[0], token.Reply, "+"), autoReply},
		{verp(d[1], token.Bounce, "+b."), fmt.Sprintf(dsn, verp(d[1], token.Bounce, "+b."), "john@example.com", "5.1.1", "550 5.1.1 User unknown")},
	} {
		id, _, err := p.Store(ctx, inbound.SourceSMTP, "", []string{m.to}, []byte(m.raw))
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Process(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"KIZUNA_DATABASE_URL": db.URL, "KIZUNA_SECRET": testSecret}

	code, out, errOut := runApp(t, env, "alumni", "show", "hanako@example.jp", "--json")
	if code != 0 {
		t.Fatalf("show --json: exit %d: %s", code, errOut)
	}
	var doc struct {
		Status  string              `json:"status"`
		History []runs.HistoryEntry `json:"history"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var bounce, auto *runs.HistoryEntry
	for i, h := range doc.History {
		switch h.Type {
		case "bounce":
			bounce = &doc.History[i]
		case "auto_reply":
			auto = &doc.History[i]
		}
	}
	if bounce == nil || bounce.At == nil || bounce.Classification != "soft" || bounce.Reason != "mailbox_full" || !strings.Contains(bounce.Reply, "5.2.2") {
		t.Errorf("soft bounce in the history: %+v\n%s", bounce, out)
	}
	if auto == nil || auto.At == nil || auto.Subject != "自動応答: アルムナイ通信" || auto.CampaignID != "news" {
		t.Errorf("automatic reply in the history: %+v\n%s", auto, out)
	}
	if doc.Status != "active" {
		t.Errorf("one soft bounce changed the status to %s", doc.Status)
	}

	code, out, _ = runApp(t, env, "alumni", "show", "hanako@example.jp")
	lines := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		for _, k := range []string{"bounce", "auto_reply"} {
			if strings.Contains(l, " "+k+" ") {
				lines[k] = l
			}
		}
	}
	if code != 0 || !strings.Contains(lines["bounce"], "soft mailbox_full") || !strings.Contains(lines["bounce"], "5.2.2") ||
		!strings.Contains(lines["auto_reply"], `"自動応答: アルムナイ通信"`) || !strings.Contains(lines["auto_reply"], "news run 1") {
		t.Errorf("show: exit %d\n%s", code, out)
	}

	code, out, _ = runApp(t, env, "campaign", "status", "news", "--json")
	var st struct {
		Runs []map[string]any `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != 0 || len(st.Runs) != 1 {
		t.Fatalf("status: exit %d %v\n%s", code, err, out)
	}
	if b := st.Runs[0]["bounced"]; b != 1.0 {
		t.Errorf("bounced %v, want 1 (the hard bounce only)", b)
	}
}
