package inbound

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/inbound/classify"
	"github.com/kizuna-alumni/kizuna/internal/mailer"
	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/smtptest"
	"github.com/kizuna-alumni/kizuna/internal/token"
)

// event is an event campaign with room for capacity guests, answers open
// until 2099.
func event(id string, capacity int) *campaigns.Campaign {
	c := newsletter(id)
	c.Kind = campaigns.KindEvent
	dl := time.Date(2099, 12, 1, 0, 0, 0, 0, time.UTC)
	c.Event = &campaigns.Event{Title: "年末アルムナイ交流会", StartsAt: dl.Add(48 * time.Hour), EndsAt: dl.Add(50 * time.Hour),
		Location: "本社", Capacity: capacity, RSVPDeadline: &dl, Sequence: 1}
	return c
}

func calendarReply(campaign, attendee, partstat string) classify.Result {
	return classify.Result{Class: classify.CalendarReply, From: attendee, Date: time.Now().Add(-time.Minute),
		Calendar: &classify.Calendar{UID: campaign + "@example.co.jp", Attendee: attendee, PartStat: partstat, Sequence: 1}}
}

// A calendar REPLY answers the RSVP by UID and ATTENDEE with the page's
// rule: ACCEPTED beyond capacity is waitlisted; the same reply again
// changes nothing; DECLINED frees the place and promotes.
func TestCalendarReplyRSVP(t *testing.T) {
	t.Parallel()
	f := newActFix(t)
	d := f.send(t, event("gala", 1), "o1")
	o := f.process(t, f.store(t, "", testInbound), calendarReply("gala", "hanako@example.jp", "ACCEPTED"))
	if o.DeliveryID != d[0] || !did(o, DidRSVP+":yes") || did(o, DidWaitlisted) {
		t.Fatalf("first: outcome %+v", o)
	}
	m := f.store(t, "", testInbound)
	r := calendarReply("gala", "JOHN@example.com", "ACCEPTED")
	o = f.process(t, m, r)
	if o.DeliveryID != d[1] || !did(o, DidRSVP+":yes") || !did(o, DidWaitlisted) {
		t.Fatalf("beyond capacity: outcome %+v", o)
	}
	if o = f.process(t, m, r); !did(o, DidRSVPUnchanged) {
		t.Fatalf("again: outcome %+v", o)
	}
	if n := f.count(t, `SELECT count(*) FROM rsvps WHERE campaign_id = 'gala' AND answer = 'yes' AND waitlisted`); n != 1 {
		t.Errorf("%d waitlisted", n)
	}
	o = f.process(t, f.store(t, "", testInbound), calendarReply("gala", "hanako@example.jp", "DECLINED"))
	if !did(o, DidRSVP+":no") {
		t.Fatalf("decline: outcome %+v", o)
	}
	if n := f.count(t, `SELECT count(*) FROM rsvps WHERE campaign_id = 'gala' AND answer = 'yes' AND NOT waitlisted AND alumni_id = $1`, f.alumni[1]); n != 1 {
		t.Error("the waiting list was not promoted")
	}
	// An answer dated before the person's later one on the page does
	// not override it.
	old := calendarReply("gala", "hanako@example.jp", "ACCEPTED")
	old.Date = time.Now().Add(-time.Hour)
	if o = f.process(t, f.store(t, "", testInbound), old); !did(o, DidRSVPSuperseded) {
		t.Errorf("older answer: outcome %+v", o)
	}
}

// After the deadline a calendar reply is recorded on the message only.
func TestCalendarReplyAfterTheDeadline(t *testing.T) {
	t.Parallel()
	f := newActFix(t)
	c := event("past", 0)
	dl := time.Now().Add(-time.Hour)
	c.Event.RSVPDeadline = &dl
	f.send(t, c, "o1")
	o := f.process(t, f.store(t, "", testInbound), calendarReply("past", "taro@example.jp", "TENTATIVE"))
	if !did(o, DidRSVPClosed) || f.count(t, `SELECT count(*) FROM rsvps`) != 0 {
		t.Errorf("outcome %+v", o)
	}
}

// relayFix adds a real SMTP relay and a forwarder to actFix.
type relayFix struct {
	*actFix
	smtp *smtptest.Server
	fw   *Forwarder
}

func newRelayFix(t *testing.T) *relayFix {
	f := &relayFix{actFix: newActFix(t), smtp: smtptest.Start(t)}
	relay, err := mailer.ParseRelay(f.smtp.URL())
	if err != nil {
		t.Fatal(err)
	}
	relay.Timeout = 2 * time.Second
	f.fw = &Forwarder{DB: f.db.DB, Sender: mailer.NewSender(relay), EnvelopeFrom: testInbound, Log: f.p.log,
		Backoff: func(int) time.Duration { return 50 * time.Millisecond }}
	t.Cleanup(func() { f.fw.Sender.Close() })
	return f
}

const replyRaw = "From: 山田花子 <hanako@example.jp>\r\n" +
	"To: reply+%s@in.example.co.jp\r\n" +
	"Subject: Re: アルムナイ通信\r\n" +
	"Message-ID: <CAF-hanako-1@mail.example.jp>\r\n" +
	"In-Reply-To: <%s>\r\n" +
	"References: <%s>\r\n" +
	"Date: Mon, 01 Dec 2025 10:00:00 +0900\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n\r\n" +
	"ご連絡ありがとうございます。交流会に参加したいです。\r\n"

// A human reply is recorded (status replied, the person's history) and
// forwarded once to the campaign's reply_to through the relay, with the
// headers that keep the thread and stop loops.
func TestHumanReplyRecordedAndForwarded(t *testing.T) {
	t.Parallel()
	f := newRelayFix(t)
	d := f.send(t, newsletter("news"), "o1")
	ours := f.msgID(d[0])
	raw := fmt.Sprintf(replyRaw, "x", ours, ours)
	m := f.store(t, raw, "reply@in.example.co.jp")
	r := classify.Result{Class: classify.HumanReply, From: "hanako@example.jp", Subject: "Re: アルムナイ通信",
		MessageID: "CAF-hanako-1@mail.example.jp", InReplyTo: ours, References: []string{ours},
		Text: "ご連絡ありがとうございます。交流会に参加したいです。"}
	for range 2 {
		if o := f.process(t, m, r); o.DeliveryID != d[0] || !did(o, DidReplyEvent) || !did(o, DidForwardQueued) {
			t.Fatalf("outcome %+v", o)
		}
	}
	if n := f.events(t, d[0], "reply"); n != 1 {
		t.Errorf("%d reply events, want 1", n)
	}
	for range 2 {
		if _, err := f.fw.Pass(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	msgs := f.smtp.Messages()
	if len(msgs) != 1 {
		t.Fatalf("relay got %d messages, want 1", len(msgs))
	}
	got := msgs[0]
	if got.From != testInbound || len(got.To) != 1 || got.To[0] != "hr@example.co.jp" {
		t.Errorf("envelope %s → %v", got.From, got.To)
	}
	checkForward(t, got.Data, ours)
	var state, reply string
	f.db.QueryRowxContext(t.Context(), `SELECT state, smtp_reply FROM inbound_forwards WHERE inbound_id = $1`, m.ID).Scan(&state, &reply)
	if state != "sent" || !strings.HasPrefix(reply, "250") {
		t.Errorf("forward %s %q", state, reply)
	}

	st, err := runs.Status(t.Context(), f.db.DB, "news")
	if err != nil {
		t.Fatal(err)
	}
	if st[0].Replied != 1 {
		t.Errorf("status replied %d, want 1", st[0].Replied)
	}
	h, err := runs.History(t.Context(), f.db.DB, f.alumni[0])
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range h {
		found = found || (e.Type == "reply" && e.Subject == "Re: アルムナイ通信" && e.CampaignID == "news")
	}
	if !found {
		t.Errorf("history has no reply: %+v", h)
	}
}

// checkForward reads a forward as HR's mail client would.
func checkForward(t *testing.T, data []byte, ours string) {
	t.Helper()
	mr, err := mail.CreateReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	h := mr.Header
	from, _ := h.AddressList("From")
	to, _ := h.AddressList("To")
	replyTo, _ := h.AddressList("Reply-To")
	subject, _ := h.Subject()
	inReplyTo, _ := h.MsgIDList("In-Reply-To")
	refs, _ := h.MsgIDList("References")
	if len(from) != 1 || from[0].Address != "alumni@example.co.jp" || from[0].Name != "Example株式会社 人事部" {
		t.Errorf("From %v", from)
	}
	if len(to) != 1 || to[0].Address != "hr@example.co.jp" {
		t.Errorf("To %v", to)
	}
	if len(replyTo) != 1 || replyTo[0].Address != "hanako@example.jp" {
		t.Errorf("Reply-To %v", replyTo)
	}
	if subject != "Re: アルムナイ通信" {
		t.Errorf("Subject %q", subject)
	}
	if len(inReplyTo) != 1 || inReplyTo[0] != "CAF-hanako-1@mail.example.jp" {
		t.Errorf("In-Reply-To %v", inReplyTo)
	}
	if len(refs) != 2 || refs[0] != ours || refs[1] != "CAF-hanako-1@mail.example.jp" {
		t.Errorf("References %v", refs)
	}
	if v := h.Get("Auto-Submitted"); v != "auto-forwarded" {
		t.Errorf("Auto-Submitted %q", v)
	}
	var text string
	var attached bool
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		ct, _, _ := p.Header.(interface {
			ContentType() (string, map[string]string, error)
		}).ContentType()
		b := new(bytes.Buffer)
		b.ReadFrom(p.Body)
		switch ct {
		case "text/plain":
			text = strings.ReplaceAll(b.String(), "\r\n", "\n")
		case "message/rfc822":
			attached = strings.Contains(b.String(), "Message-ID: <CAF-hanako-1@mail.example.jp>")
		}
	}
	if !strings.HasPrefix(text, ForwardNote+"\n") || !strings.Contains(text, "交流会に参加したいです") {
		t.Errorf("text %q", text)
	}
	if !attached {
		t.Error("the original message is not attached")
	}
}

// No forward for automatic mail, for mail from the inbound address itself,
// or when the campaign's reply_to is the inbound address (a loop); the
// reply is recorded all the same.
func TestNoForwardLoops(t *testing.T) {
	t.Parallel()
	f := newActFix(t)
	c := newsletter("news")
	d := f.send(t, c, "o1")
	loopy := newsletter("loopy")
	loopy.ReplyTo = testInbound
	dl := f.send(t, loopy, "o1")
	for i, tc := range []struct {
		d int64
		r classify.Result
	}{
		{d[0], classify.Result{Class: classify.HumanReply, From: "reply+x@in.example.co.jp"}},
		{d[1], classify.Result{Class: classify.HumanReply, From: "john@example.com", Automatic: true}},
		{dl[2], classify.Result{Class: classify.HumanReply, From: "taro@example.jp"}},
	} {
		o := f.process(t, f.store(t, "", f.addr(tc.d, token.Reply)), tc.r)
		if !did(o, DidReplyEvent) || !did(o, DidNoForward) {
			t.Errorf("case %d: outcome %+v", i, o)
		}
	}
	if n := f.count(t, `SELECT count(*) FROM inbound_forwards`); n != 0 {
		t.Errorf("%d forwards", n)
	}
}

// The relay is down when the forward is due: it waits (pending, the
// reply recorded) and is delivered once after the relay is back.
func TestForwarderRelayOutage(t *testing.T) {
	t.Parallel()
	f := newRelayFix(t)
	d := f.send(t, newsletter("news"), "o1")
	ours := f.msgID(d[1])
	m := f.store(t, fmt.Sprintf(replyRaw, "y", ours, ours), testInbound)
	f.process(t, m, classify.Result{Class: classify.HumanReply, From: "john@example.com", InReplyTo: ours})
	if err := f.smtp.Stop(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if n, err := f.fw.Pass(t.Context()); err != nil || n != 0 {
			t.Fatalf("pass during the outage: %d sent, %v", n, err)
		}
		time.Sleep(60 * time.Millisecond)
	}
	var state, reply string
	var attempts int
	f.db.QueryRowxContext(t.Context(), `SELECT state, smtp_reply, attempts FROM inbound_forwards WHERE inbound_id = $1`, m.ID).Scan(&state, &reply, &attempts)
	if state != "pending" || reply == "" || attempts != 3 {
		t.Fatalf("during the outage: %s after %d attempts (%q)", state, attempts, reply)
	}
	if err := f.smtp.Restart(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.smtp.Accepted() == 0 && time.Now().Before(deadline) {
		if _, err := f.fw.Pass(t.Context()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for range 3 {
		f.fw.Pass(t.Context())
	}
	if n := f.smtp.Accepted(); n != 1 {
		t.Fatalf("relay accepted %d forwards, want 1", n)
	}
	f.db.QueryRowxContext(t.Context(), `SELECT state FROM inbound_forwards WHERE inbound_id = $1`, m.ID).Scan(&state)
	if state != "sent" {
		t.Errorf("state %s", state)
	}
}

// A relay that refuses the forward for good (5xx) fails it at once; one
// that keeps answering 4xx fails it after MaxAttempts.
func TestForwarderGivesUp(t *testing.T) {
	t.Parallel()
	f := newRelayFix(t)
	f.fw.MaxAttempts = 2
	d := f.send(t, newsletter("news"), "o1")
	perm := f.store(t, "", testInbound)
	f.process(t, perm, classify.Result{Class: classify.HumanReply, From: "hanako@example.jp", InReplyTo: f.msgID(d[0])})
	f.smtp.SetFault(func(stage smtptest.Stage, from string, to []string) error {
		if stage == smtptest.StageRcpt {
			return smtptest.Reply(550, "5.1.1", "no such user")
		}
		return nil
	})
	f.fw.Pass(t.Context())
	var state string
	f.db.GetContext(t.Context(), &state, `SELECT state FROM inbound_forwards WHERE inbound_id = $1`, perm.ID)
	if state != "failed" {
		t.Fatalf("after a 550: %s", state)
	}
	temp := f.store(t, "", testInbound)
	f.process(t, temp, classify.Result{Class: classify.HumanReply, From: "john@example.com", InReplyTo: f.msgID(d[1])})
	f.smtp.SetFault(func(stage smtptest.Stage, from string, to []string) error {
		if stage == smtptest.StageRcpt {
			return smtptest.Reply(451, "4.3.0", "try later")
		}
		return nil
	})
	for range 4 {
		f.fw.Pass(t.Context())
		time.Sleep(60 * time.Millisecond)
	}
	var attempts int
	f.db.QueryRowxContext(t.Context(), `SELECT state, attempts FROM inbound_forwards WHERE inbound_id = $1`, temp.ID).Scan(&state, &attempts)
	if state != "failed" || attempts != 2 {
		t.Errorf("after 4xx: %s after %d attempts", state, attempts)
	}
	if f.smtp.Accepted() != 0 {
		t.Error("a refused forward was accepted")
	}
}
