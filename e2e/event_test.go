package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	ics "github.com/arran4/golang-ical"
	"github.com/chromedp/chromedp"
	"github.com/emersion/go-message/mail"

	"github.com/kizuna-alumni/kizuna/internal/smtptest"
	"github.com/kizuna-alumni/kizuna/internal/testbin"
)

// studyID is the event of examples/campaigns the events journey sends.
const studyID = "2027-01-study-session"

// Kinds of mail an event sends (the invitation, and render's notices).
const (
	mailInvitation   = "invitation"
	mailConfirmYes   = "confirm_yes"
	mailConfirmNo    = "confirm_no"
	mailConfirmMaybe = "confirm_maybe"
	mailWaitlisted   = "waitlisted"
	mailPromoted     = "promoted"
	mailUpdate       = "update"
	mailCancellation = "cancellation"
	mailReminder     = "reminder"
)

// noticeSubjects tells a notice by the start of its subject, in Japanese
// and in English (the design's table of notices).
var noticeSubjects = []struct{ prefix, kind string }{
	{"【リマインド】", mailReminder}, {"Reminder: ", mailReminder},
	{"【変更】", mailUpdate}, {"Updated: ", mailUpdate},
	{"【中止】", mailCancellation}, {"Cancelled: ", mailCancellation},
	{"ご出席を承りました", mailConfirmYes}, {"You're in: ", mailConfirmYes},
	{"ご回答（未定）を承りました", mailConfirmMaybe}, {"We noted your", mailConfirmMaybe},
	{"ご欠席を承りました", mailConfirmNo}, {"Sorry you can't make it", mailConfirmNo},
	{"キャンセル待ちで承りました", mailWaitlisted}, {"You're on the waiting list", mailWaitlisted},
	{"お席をご用意できました", mailPromoted}, {"A place opened up", mailPromoted},
}

// guest is one alumnus of the events journey.
type guest struct {
	email, family, given, locale, tags string
	invitation                         string // the invitation's subject; "" when outside the audience
}

// The events journey's roster: eight engineers the study session invites
// (two of them in English) and one salesperson it does not.
var (
	gA = guest{"misaki.ishikawa@example.jp", "石川", "美咲", "ja", "engineering", "石川様 アルムナイ勉強会「生成AIと開発の現場」のご案内"}
	gB = guest{"ichiro.takahashi@example.jp", "髙橋", "一郎", "ja", "engineering", "髙橋様 アルムナイ勉強会「生成AIと開発の現場」のご案内"}
	gC = guest{"john.smith@example.com", "Smith", "John", "en", "engineering", "John, join our alumni study session on AI in software work"}
	gD = guest{"hanako.yamazaki@example.jp", "山﨑", "花子", "ja", "engineering;boomerang", "山﨑様 アルムナイ勉強会「生成AIと開発の現場」のご案内"}
	gE = guest{"emma.brown@example.com", "Brown", "Emma", "en", "engineering", "Emma, join our alumni study session on AI in software work"}
	gF = guest{"ken.sato@example.jp", "佐藤", "健", "ja", "engineering", "佐藤様 アルムナイ勉強会「生成AIと開発の現場」のご案内"}
	gG = guest{"aya.watanabe@example.jp", "渡辺", "彩", "ja", "engineering", "渡辺様 アルムナイ勉強会「生成AIと開発の現場」のご案内"}
	gH = guest{"naoto.ito@example.jp", "伊藤", "直人", "ja", "engineering", "伊藤様 アルムナイ勉強会「生成AIと開発の現場」のご案内"}
	gX = guest{"yuko.suzuki@example.jp", "鈴木", "優子", "ja", "sales", ""}

	eventRoster = []guest{gA, gB, gC, gD, gE, gF, gG, gH, gX}
)

// eventMail is one message of an event, decoded.
type eventMail struct {
	to, subject, kind, text, html string
	// ics is the invite.ics attachment, calendar the text/calendar
	// alternative and calMethod its method parameter; "" when none.
	ics, calendar, calMethod string
	at                       time.Time
}

// ledger counts mails per recipient and kind.
type ledger map[string]map[string]int

func (l ledger) add(g guest, kinds ...string) {
	if l[g.email] == nil {
		l[g.email] = map[string]int{}
	}
	for _, k := range kinds {
		l[g.email][k]++
	}
}

func (l ledger) String() string {
	var lines []string
	for to, kinds := range l {
		var ks []string
		for k, n := range kinds {
			ks = append(ks, fmt.Sprintf("%s×%d", k, n))
		}
		sort.Strings(ks)
		lines = append(lines, to+": "+strings.Join(ks, " "))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// covers reports whether l holds at least every count of want.
func (l ledger) covers(want ledger) bool {
	for to, kinds := range want {
		for k, n := range kinds {
			if l[to][k] < n {
				return false
			}
		}
	}
	return true
}

// equal reports whether l and want hold the same non-zero counts.
func (l ledger) equal(want ledger) bool {
	return l.covers(want) && want.covers(l)
}

// TestEventJourney answers the invitation of the study-session example
// as its guests would, with `kizuna run` (scheduler, worker, web server)
// sending through the test relay: a real invitation carries the three
// RSVP links and an iCalendar request; a "yes" given in headless chromium
// is recorded and confirmed by mail within seconds; a "yes" past the
// capacity waits on the waiting list, a "no" and a raised capacity promote
// from it; editing the event's place in the file announces the change once
// to everyone who answered yes or maybe and to the waiting list, and
// `cancelled: true` cancels it for them. Nobody gets any mail twice.
func TestEventJourney(t *testing.T) {
	t.Parallel()
	browser := eventChromium(t)
	began := time.Now()
	e := newEnv(t)
	addr := freeAddr(t)
	base := "http://" + addr
	e.vars["KIZUNA_LISTEN"] = addr
	e.vars["KIZUNA_BASE_URL"] = base

	dir := t.TempDir()
	campaignsDir := filepath.Join(dir, "campaigns")
	if err := os.Mkdir(campaignsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	copyExample(t, campaignsDir, "kizuna.yaml")
	example, err := os.ReadFile(filepath.Join("..", "examples", "campaigns", studyID+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	file := string(eventInFuture(t, example))
	path := writeFile(t, campaignsDir, studyID+".yaml", []byte(file))

	var roster strings.Builder
	roster.WriteString("email,family_name,given_name,locale,tags,consent\r\n")
	for _, g := range eventRoster {
		fmt.Fprintf(&roster, "%s,%s,%s,%s,%s,yes\r\n", g.email, g.family, g.given, g.locale, g.tags)
	}
	e.must(t, "alumni", "import", writeFile(t, dir, "alumni.csv", []byte(roster.String())))

	// 1. kizuna run, then the invitation to the eight engineers.
	run := e.start(t, "kizuna run", "run", "--campaigns", campaignsDir)
	waitHealthy(t, base, run)
	r := e.must(t, "campaign", "start", path, "--yes")
	if !strings.Contains(r.Stdout, "8 deliveries") {
		t.Errorf("start: want 8 deliveries in\n%s", r)
	}
	sent := time.Now()
	want := ledger{}
	for _, g := range eventRoster {
		if g.invitation != "" {
			want.add(g, mailInvitation)
		}
	}
	mails := waitMails(t, e.relay, want, 30*time.Second, run)
	t.Logf("8 invitations at the relay %s after campaign start", time.Since(sent).Round(time.Millisecond))

	// 2. The invitation: three RSVP links in both parts, and an
	// iCalendar request that calendars can answer.
	links := map[string]string{} // recipient → the RSVP URL without ?a=
	for _, m := range mails {
		g := guestOf(t, m.to)
		if m.subject != g.invitation {
			t.Errorf("%s: invitation subject %q, want %q", m.to, m.subject, g.invitation)
		}
		links[m.to] = checkRSVPLinks(t, m, base)
		cal := checkICS(t, m, "REQUEST", 0)
		att := cal.Attendees()
		if org := cal.GetProperty(ics.ComponentPropertyOrganizer); org == nil || org.Value != "mailto:alumni@example.co.jp" {
			t.Errorf("%s: invitation ORGANIZER %+v, want mailto:alumni@example.co.jp", m.to, org)
		}
		if len(att) != 1 || !strings.EqualFold(att[0].Email(), m.to) || first(att[0].ICalParameters["RSVP"]) != "TRUE" ||
			att[0].ParticipationStatus() != ics.ParticipationStatusNeedsAction {
			t.Errorf("%s: invitation ATTENDEE %+v; want one, the recipient, RSVP=TRUE, PARTSTAT=NEEDS-ACTION", m.to, attendeeLines(att))
		}
	}

	// HR now limits the campaign to a sending window that is closed for
	// the rest of the test: the mail owed to people who answer
	// (confirmations, notices, updates) goes out all the same.
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	h := time.Now().In(tokyo).Add(2 * time.Hour).Hour()
	file = replaceLine(t, file, "\ntracking:", fmt.Sprintf("\nschedule:\n  window:\n    hours: \"%02d:00-%02d:00\"\ntracking:", h, (h+1)%24))
	writeFile(t, campaignsDir, studyID+".yaml", []byte(file))
	run.WaitOutput(t, "campaigns reloaded", 10*time.Second)

	// 3. A opens the "yes" link in a browser: the page changes nothing
	// until the form is sent; then the answer is in the database and the
	// confirmation, with an ACCEPTED calendar entry, arrives within seconds.
	if err := chromedp.Do(browser, chromedp.Navigate(links[gA.email]+"?a=yes"), chromedp.WaitVisible(chromedp.ID("send"))); err != nil {
		t.Fatalf("open the yes link in chromium: %v", err)
	}
	checked, err := chromedp.Run(browser, chromedp.Evaluate[bool](`document.getElementById("a-yes").checked`))
	if err != nil {
		t.Fatal(err)
	}
	if !checked {
		t.Error("the RSVP page opened from the yes link does not preselect yes")
	}
	if got := attendees(t, e); len(got) != 0 {
		t.Fatalf("opening the RSVP page recorded an answer: %+v", got)
	}
	answered := time.Now()
	if err := chromedp.Do(browser, chromedp.Click(chromedp.ID("send")), chromedp.WaitVisible(chromedp.ID("done"))); err != nil {
		t.Fatalf("send the RSVP form in chromium: %v", err)
	}
	done, err := chromedp.Run(browser, chromedp.Text(chromedp.ID("done")))
	if err != nil {
		t.Fatal(err)
	}
	current, err := chromedp.Run(browser, chromedp.Text(chromedp.ID("current")))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the page after the answer: %q / current %q", strings.Join(strings.Fields(done), " "), current)
	wantAttendees(t, e, []attendeeRow{{gA.email, "yes", 0}})
	want.add(gA, mailConfirmYes)
	mails = waitMails(t, e.relay, want, 15*time.Second, run)
	conf := lastOf(mails, gA.email, mailConfirmYes)
	t.Logf("confirmation of the browser's yes at the relay %s after the click", conf.at.Sub(answered).Round(time.Millisecond))
	checkRSVPLinks(t, conf, base)
	if att := checkICS(t, conf, "REQUEST", 0).Attendees(); len(att) != 1 || att[0].ParticipationStatus() != ics.ParticipationStatusAccepted {
		t.Errorf("confirmation of yes: ATTENDEE %v, want PARTSTAT=ACCEPTED", attendeeLines(att))
	}

	// 4. Four more answers over plain HTTP: two more yes fill the three
	// places, the next two wait (a waiting-list notice each, no calendar
	// entry), and a maybe is confirmed as TENTATIVE.
	for _, a := range []struct {
		g      guest
		answer string
	}{{gB, "yes"}, {gC, "yes"}, {gD, "yes"}, {gF, "yes"}, {gE, "maybe"}} {
		postRSVP(t, links[a.g.email], a.answer, http.StatusSeeOther)
	}
	want.add(gB, mailConfirmYes)
	want.add(gC, mailConfirmYes)
	want.add(gD, mailWaitlisted)
	want.add(gF, mailWaitlisted)
	want.add(gE, mailConfirmMaybe)
	mails = waitMails(t, e.relay, want, 15*time.Second, run)
	wantAttendees(t, e, []attendeeRow{{gA.email, "yes", 0}, {gB.email, "yes", 0}, {gC.email, "yes", 0},
		{gD.email, "yes", 1}, {gF.email, "yes", 2}, {gE.email, "maybe", 0}})
	for _, g := range []guest{gD, gF} {
		if m := lastOf(mails, g.email, mailWaitlisted); m.ics != "" || m.calendar != "" {
			t.Errorf("%s: the waiting-list notice carries a calendar entry", g.email)
		}
	}
	if att := checkICS(t, lastOf(mails, gE.email, mailConfirmMaybe), "REQUEST", 0).Attendees(); len(att) != 1 ||
		att[0].ParticipationStatus() != ics.ParticipationStatusTentative {
		t.Errorf("confirmation of maybe: ATTENDEE %v, want PARTSTAT=TENTATIVE", attendeeLines(att))
	}
	// The same answer again changes nothing and sends nothing.
	postRSVP(t, links[gC.email], "yes", http.StatusSeeOther)

	// 5. B changes to no: D, first on the waiting list, gets B's place and
	// exactly one promotion notice.
	postRSVP(t, links[gB.email], "no", http.StatusSeeOther)
	want.add(gB, mailConfirmNo)
	want.add(gD, mailPromoted)
	mails = waitMails(t, e.relay, want, 15*time.Second, run)
	wantAttendees(t, e, []attendeeRow{{gA.email, "yes", 0}, {gC.email, "yes", 0}, {gD.email, "yes", 0},
		{gF.email, "yes", 1}, {gE.email, "maybe", 0}, {gB.email, "no", 0}})
	if m := lastOf(mails, gB.email, mailConfirmNo); m.ics != "" {
		t.Errorf("the confirmation of no carries an invite.ics")
	}
	if att := checkICS(t, lastOf(mails, gD.email, mailPromoted), "REQUEST", 0).Attendees(); len(att) != 1 ||
		att[0].ParticipationStatus() != ics.ParticipationStatusAccepted {
		t.Errorf("promotion: ATTENDEE %v, want PARTSTAT=ACCEPTED", attendeeLines(att))
	}

	// 6. HR raises the capacity to 4 in the file: the scheduler in kizuna
	// run sees the folder change and F moves up (one promotion notice); a
	// capacity is no calendar change, so nobody gets an update. Then G
	// says yes and waits in F's old place.
	file = replaceLine(t, file, "  capacity: 3\n", "  capacity: 4\n")
	edited := time.Now()
	writeFile(t, campaignsDir, studyID+".yaml", []byte(file))
	want.add(gF, mailPromoted)
	mails = waitMails(t, e.relay, want, 20*time.Second, run)
	t.Logf("promotion after the capacity was raised in the file at the relay %s after the edit",
		lastOf(mails, gF.email, mailPromoted).at.Sub(edited).Round(time.Millisecond))
	postRSVP(t, links[gG.email], "yes", http.StatusSeeOther)
	want.add(gG, mailWaitlisted)
	waitMails(t, e.relay, want, 15*time.Second, run)
	wantAttendees(t, e, []attendeeRow{{gA.email, "yes", 0}, {gC.email, "yes", 0}, {gD.email, "yes", 0},
		{gF.email, "yes", 0}, {gG.email, "yes", 1}, {gE.email, "maybe", 0}, {gB.email, "no", 0}})

	// 7. The place changes in the file: one update per yes, maybe and
	// waiting-list person, same UID, SEQUENCE 1, METHOD:REQUEST, the new
	// place; nothing for B (no) or H (no answer).
	const newPlace = "株式会社サンプル技研 本社 7階 大会議室(東京都渋谷区サンプル町1-2-3)"
	file = replaceLinePrefix(t, file, "  location: ", `  location: "`+newPlace+`"`)
	edited = time.Now()
	writeFile(t, campaignsDir, studyID+".yaml", []byte(file))
	told := []guest{gA, gC, gD, gF, gG, gE}
	for _, g := range told {
		want.add(g, mailUpdate)
	}
	mails = waitMails(t, e.relay, want, 20*time.Second, run)
	t.Logf("6 updates at the relay %s after the place was edited", latest(mails, mailUpdate).Sub(edited).Round(time.Millisecond))
	for _, g := range told {
		m := lastOf(mails, g.email, mailUpdate)
		cal := checkICS(t, m, "REQUEST", 1)
		if loc := cal.GetProperty(ics.ComponentPropertyLocation); loc == nil || loc.Value != newPlace {
			t.Errorf("%s: update LOCATION %+v, want %q", g.email, loc, newPlace)
		}
		if !strings.Contains(m.text, newPlace) || !strings.Contains(m.html, newPlace) {
			t.Errorf("%s: the update does not show the new place in both parts", g.email)
		}
	}
	// The page's "add to calendar" file is the same event as it is now.
	cal, err := ics.ParseCalendar(strings.NewReader(get(t, links[gA.email]+"/event.ics", http.StatusOK)))
	if err != nil {
		t.Fatalf("event.ics: %v", err)
	}
	if evs := cal.Events(); len(evs) != 1 || evs[0].Id() != studyID+"@example.co.jp" ||
		evs[0].GetProperty(ics.ComponentPropertySequence).Value != "1" || evs[0].GetProperty(ics.ComponentPropertyLocation).Value != newPlace {
		t.Errorf("event.ics after the change: %s", cal.Serialize())
	}

	// 8. cancelled: true: one cancellation each to the same people,
	// METHOD:CANCEL and STATUS:CANCELLED; answers are closed (409).
	file = replaceLine(t, file, "  reminders: [24h]\n", "  reminders: [24h]\n  cancelled: true\n")
	edited = time.Now()
	writeFile(t, campaignsDir, studyID+".yaml", []byte(file))
	for _, g := range told {
		want.add(g, mailCancellation)
	}
	mails = waitMails(t, e.relay, want, 20*time.Second, run)
	t.Logf("6 cancellations at the relay %s after cancelled: true", latest(mails, mailCancellation).Sub(edited).Round(time.Millisecond))
	for _, g := range told {
		m := lastOf(mails, g.email, mailCancellation)
		cal := checkICS(t, m, "CANCEL", 2)
		if st := cal.GetProperty(ics.ComponentPropertyStatus); st == nil || st.Value != "CANCELLED" {
			t.Errorf("%s: cancellation STATUS %+v, want CANCELLED", g.email, st)
		}
		if strings.Contains(m.text, "/r/") {
			t.Errorf("%s: the cancellation offers RSVP links", g.email)
		}
	}
	postRSVP(t, links[gH.email], "yes", http.StatusConflict)
	page := get(t, links[gA.email]+"?a=no", http.StatusOK)
	if !strings.Contains(page, `id="closed"`) || strings.Contains(page, `id="send"`) || strings.Contains(page, `id="ics"`) {
		t.Errorf("the RSVP page of a cancelled event must say so, with no form and no calendar link:\n%s", testbin.Tail(page, 3000))
	}
	// A calendar that added the event from the page learns it is off.
	cal, err = ics.ParseCalendar(strings.NewReader(get(t, links[gA.email]+"/event.ics", http.StatusOK)))
	if err != nil {
		t.Fatalf("event.ics: %v", err)
	}
	if evs := cal.Events(); len(evs) != 1 || evs[0].GetProperty(ics.ComponentPropertySequence).Value != "2" ||
		evs[0].GetProperty(ics.ComponentPropertyStatus).Value != "CANCELLED" {
		t.Errorf("event.ics after the cancellation: %s", cal.Serialize())
	}

	// 9. Nothing twice, nothing more: wait past a reconciler pass and a
	// scheduler poll, then the mail must be exactly the ledger.
	time.Sleep(3 * time.Second)
	got := tally(t, e.relay)
	if !got.equal(want) {
		t.Errorf("mail per recipient and kind:\n%s\nwant:\n%s", got, want)
	}
	kinds := map[string]int{}
	for _, s := range e.status(t, studyID) {
		kinds[s.Kind]++
	}
	if kinds["send"] != 1 || kinds["update"] != 1 || kinds["cancellation"] != 1 || kinds["reminder"] != 0 {
		t.Errorf("runs by kind %v; want one send, one update, one cancellation, no reminder", kinds)
	}
	t.Logf("relay accepted %d messages; the journey took %s", e.relay.Accepted(), time.Since(began).Round(time.Millisecond))
}

// eventInFuture returns the example as it is while its RSVP deadline is
// more than an hour away; later, with starts_at, ends_at and
// rsvp_deadline moved on by whole weeks until it is, so that the test
// keeps working after the example's date.
func eventInFuture(t *testing.T, file []byte) []byte {
	t.Helper()
	re := regexp.MustCompile(`(?m)^(  (?:starts_at|ends_at|rsvp_deadline): )(\S+)$`)
	deadline := re.FindAllSubmatch(file, -1)
	if len(deadline) != 3 {
		t.Fatalf("the example has %d of starts_at, ends_at and rsvp_deadline, want the three", len(deadline))
	}
	d, err := time.Parse(time.RFC3339, string(deadline[2][2]))
	if err != nil {
		t.Fatal(err)
	}
	weeks := 0
	for d.Add(time.Duration(weeks) * 7 * 24 * time.Hour).Before(time.Now().Add(time.Hour)) {
		weeks++
	}
	if weeks == 0 {
		return file
	}
	return re.ReplaceAllFunc(file, func(l []byte) []byte {
		m := re.FindSubmatch(l)
		at, err := time.Parse(time.RFC3339, string(m[2]))
		if err != nil {
			t.Fatal(err)
		}
		return []byte(string(m[1]) + at.AddDate(0, 0, 7*weeks).Format(time.RFC3339))
	})
}

// replaceLine replaces the one occurrence of old in file.
func replaceLine(t *testing.T, file, old, new string) string {
	t.Helper()
	if strings.Count(file, old) != 1 {
		t.Fatalf("the example has %d lines %q, want one", strings.Count(file, old), old)
	}
	return strings.Replace(file, old, new, 1)
}

// replaceLinePrefix replaces the one line that starts with prefix.
func replaceLinePrefix(t *testing.T, file, prefix, line string) string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(prefix) + `.*$`)
	if n := len(re.FindAllString(file, -1)); n != 1 {
		t.Fatalf("the example has %d lines starting %q, want one", n, prefix)
	}
	return re.ReplaceAllLiteralString(file, line)
}

// eventChromium starts one headless Debian chromium (the flags of
// internal/web's browser tests). It skips the test when chromium is not
// installed and CI is unset; under CI (CI=true) a missing chromium fails.
func eventChromium(t *testing.T) context.Context {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("CI") == "" {
			t.Skip("chromium is not installed (apt-get install chromium); skipping the events journey. Under CI=true this is a failure.")
		}
		t.Fatal("chromium is not installed but CI is set: install it (apt-get install -y chromium)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1024, 800),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium %s: %v", path, err)
	}
	return bctx
}

// waitHealthy waits until the web server of p answers /healthz.
func waitHealthy(t *testing.T, base string, p *proc) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		p.Alive(t)
		if time.Now().After(deadline) {
			t.Fatalf("%s: /healthz does not answer 200 after 20 s", p.Name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitMails waits until the relay holds at least the mail in want, then
// fails the test unless it holds exactly that mail (nothing twice, nothing
// unexpected), and returns every message decoded.
func waitMails(t *testing.T, relay *smtptest.Server, want ledger, timeout time.Duration, p *proc) []eventMail {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := tally(t, relay)
		if got.covers(want) {
			if !got.equal(want) {
				t.Fatalf("mail per recipient and kind:\n%s\nwant:\n%s", got, want)
			}
			return decodeAll(t, relay)
		}
		p.Alive(t)
		if time.Now().After(deadline) {
			t.Fatalf("after %s, mail per recipient and kind:\n%s\nwant:\n%s", timeout, got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tally counts the relay's messages per recipient and kind.
func tally(t *testing.T, relay *smtptest.Server) ledger {
	t.Helper()
	l := ledger{}
	for _, m := range decodeAll(t, relay) {
		if l[m.to] == nil {
			l[m.to] = map[string]int{}
		}
		l[m.to][m.kind]++
	}
	return l
}

func decodeAll(t *testing.T, relay *smtptest.Server) []eventMail {
	t.Helper()
	var out []eventMail
	for _, m := range relay.Messages() {
		out = append(out, decodeEventMail(t, m))
	}
	return out
}

// decodeEventMail decodes a message: subject, text and HTML parts, the
// text/calendar alternative and the invite.ics attachment; its kind comes
// from the subject.
func decodeEventMail(t *testing.T, m smtptest.Message) eventMail {
	t.Helper()
	if len(m.To) != 1 {
		t.Fatalf("message with envelope recipients %v; want exactly one", m.To)
	}
	mr, err := mail.CreateReader(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatalf("message to %v does not parse: %v", m.To, err)
	}
	out := eventMail{to: strings.ToLower(m.To[0]), at: m.At}
	if out.subject, err = mr.Header.Subject(); err != nil {
		t.Fatalf("message to %v: subject: %v", m.To, err)
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("message to %v: part: %v", m.To, err)
		}
		body, err := io.ReadAll(part.Body)
		if err != nil {
			t.Fatalf("message to %v: part body: %v", m.To, err)
		}
		switch h := part.Header.(type) {
		case *mail.InlineHeader:
			ct, params, _ := h.ContentType()
			switch ct {
			case "text/plain":
				out.text += string(body)
			case "text/html":
				out.html += string(body)
			case "text/calendar":
				out.calendar, out.calMethod = string(body), params["method"]
			}
		case *mail.AttachmentHeader:
			if name, _ := h.Filename(); name == "invite.ics" {
				out.ics = string(body)
			}
		}
	}
	out.kind = mailInvitation
	for _, s := range noticeSubjects {
		if strings.HasPrefix(out.subject, s.prefix) {
			out.kind = s.kind
			break
		}
	}
	return out
}

// guestOf returns the roster entry of an address.
func guestOf(t *testing.T, email string) guest {
	t.Helper()
	for _, g := range eventRoster {
		if g.email == email {
			return g
		}
	}
	t.Fatalf("mail to %s, who is not in the roster", email)
	return guest{}
}

// lastOf returns the last message of a kind to a recipient.
func lastOf(mails []eventMail, to, kind string) eventMail {
	var out eventMail
	for _, m := range mails {
		if m.to == to && m.kind == kind {
			out = m
		}
	}
	return out
}

// latest is when the last message of a kind reached the relay.
func latest(mails []eventMail, kind string) time.Time {
	var at time.Time
	for _, m := range mails {
		if m.kind == kind && m.at.After(at) {
			at = m.at
		}
	}
	return at
}

var rsvpLink = regexp.MustCompile(`(https?://[^/\s"<>]+/r/[A-Za-z0-9_-]+)\?a=(yes|no|maybe)`)

// checkRSVPLinks checks that the HTML and the text part of m each carry
// the yes, maybe and no links of one token at base, and returns the link
// without its query.
func checkRSVPLinks(t *testing.T, m eventMail, base string) string {
	t.Helper()
	link := ""
	for part, body := range map[string]string{"html": m.html, "text": m.text} {
		seen := map[string]bool{}
		for _, l := range rsvpLink.FindAllStringSubmatch(body, -1) {
			if !strings.HasPrefix(l[1], base+"/r/") || (link != "" && l[1] != link) {
				t.Errorf("%s (%s): RSVP link %s, want %s/r/TOKEN, one token per message", m.to, m.kind, l[0], base)
			}
			link = l[1]
			seen[l[2]] = true
		}
		if len(seen) != 3 {
			t.Errorf("%s (%s): the %s part has the RSVP links for %v, want yes, maybe and no", m.to, m.kind, part, seen)
		}
	}
	return link
}

// checkICS parses the invite.ics of m with golang-ical, checks that the
// text/calendar alternative says the same, and checks METHOD, the UID
// and SEQUENCE; it returns the one VEVENT.
func checkICS(t *testing.T, m eventMail, method string, sequence int) *ics.VEvent {
	t.Helper()
	if m.ics == "" {
		t.Fatalf("%s (%s, %q): no invite.ics", m.to, m.kind, m.subject)
	}
	if m.calendar != m.ics || !strings.EqualFold(m.calMethod, method) {
		t.Errorf("%s (%s): the text/calendar part (method=%q) is not the invite.ics with method %s", m.to, m.kind, m.calMethod, method)
	}
	cal, err := ics.ParseCalendar(strings.NewReader(m.ics))
	if err != nil {
		t.Fatalf("%s (%s): invite.ics does not parse: %v\n%s", m.to, m.kind, err, m.ics)
	}
	got := ""
	for _, p := range cal.CalendarProperties {
		if p.IANAToken == "METHOD" {
			got = p.Value
		}
	}
	if got != method {
		t.Errorf("%s (%s): METHOD %q, want %s", m.to, m.kind, got, method)
	}
	evs := cal.Events()
	if len(evs) != 1 {
		t.Fatalf("%s (%s): %d VEVENTs, want 1", m.to, m.kind, len(evs))
	}
	ev := evs[0]
	if ev.Id() != studyID+"@example.co.jp" {
		t.Errorf("%s (%s): UID %q, want %s@example.co.jp", m.to, m.kind, ev.Id(), studyID)
	}
	if seq := ev.GetProperty(ics.ComponentPropertySequence); seq == nil || seq.Value != fmt.Sprint(sequence) {
		t.Errorf("%s (%s): SEQUENCE %+v, want %d", m.to, m.kind, seq, sequence)
	}
	return ev
}

func attendeeLines(att []*ics.Attendee) []string {
	var out []string
	for _, a := range att {
		out = append(out, fmt.Sprintf("%s %v", a.Value, a.ICalParameters))
	}
	return out
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// postRSVP posts answer to an RSVP link as a plain HTTP client (no
// redirect followed) and checks the status.
func postRSVP(t *testing.T, link, answer string, status int) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.PostForm(link, url.Values{"a": {answer}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != status {
		t.Fatalf("POST a=%s to %s: %d, want %d\n%s", answer, link, resp.StatusCode, status, testbin.Tail(string(body), 2000))
	}
}

// get fetches url and checks the status; it returns the body.
func get(t *testing.T, url string, status int) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != status {
		t.Errorf("GET %s: %d, want %d\n%s", url, resp.StatusCode, status, testbin.Tail(string(body), 2000))
	}
	return string(body)
}

// attendeeRow is what the test checks of one row of `campaign attendees`.
type attendeeRow struct {
	email, answer string
	position      int // 0: not waitlisted
}

// attendees runs `campaign attendees ID --json`.
func attendees(t *testing.T, e *env) []attendeeRow {
	t.Helper()
	r := e.must(t, "campaign", "attendees", studyID, "--json")
	var rows []struct {
		Email            string `json:"email"`
		Answer           string `json:"answer"`
		AnsweredAt       string `json:"answered_at"`
		WaitlistPosition *int   `json:"waitlist_position"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rows); err != nil || rows == nil {
		t.Fatalf("campaign attendees --json: %v\n%s", err, r)
	}
	out := []attendeeRow{}
	for _, row := range rows {
		if _, err := time.Parse(time.RFC3339, row.AnsweredAt); err != nil {
			t.Errorf("answered_at %q: %v", row.AnsweredAt, err)
		}
		a := attendeeRow{email: row.Email, answer: row.Answer}
		if row.WaitlistPosition != nil {
			a.position = *row.WaitlistPosition
		}
		out = append(out, a)
	}
	return out
}

// wantAttendees checks `campaign attendees --json`: guests, then the
// waiting list in order, then maybe, then no. Within a group the order
// is by kana, which this roster does not have: groups are compared as
// sets, the waiting list by position.
func wantAttendees(t *testing.T, e *env, want []attendeeRow) {
	t.Helper()
	got := attendees(t, e)
	group := func(a attendeeRow) string {
		switch {
		case a.answer == "yes" && a.position == 0:
			return "0"
		case a.position > 0:
			return fmt.Sprintf("1-%03d", a.position)
		case a.answer == "maybe":
			return "2"
		}
		return "3"
	}
	key := func(rows []attendeeRow) []string {
		var out []string
		for _, a := range rows {
			out = append(out, group(a)+" "+a.email+" "+a.answer)
		}
		return out
	}
	g, w := key(got), key(want)
	sorted := append([]string(nil), g...)
	sort.Strings(sorted)
	sort.Strings(w)
	if strings.Join(sorted, "\n") != strings.Join(w, "\n") {
		t.Fatalf("campaign attendees:\n%s\nwant:\n%s", strings.Join(g, "\n"), strings.Join(w, "\n"))
	}
	for i := 1; i < len(got); i++ {
		if group(got[i]) < group(got[i-1]) {
			t.Errorf("campaign attendees out of order (guests, waiting list, maybe, no):\n%s", strings.Join(g, "\n"))
			break
		}
	}
}
