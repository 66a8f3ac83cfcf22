package render

import (
	"bufio"
	"bytes"
	"fmt"
	"mime"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	ics "github.com/arran4/golang-ical"
	_ "github.com/emersion/go-message/charset"
	gmail "github.com/emersion/go-message/mail"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/mailtest"
	"github.com/kizuna-alumni/kizuna/internal/token"
)

// part is one leaf of a parsed message.
type part struct {
	contentType string
	params      map[string]string
	disposition string
	filename    string
	body        string
}

// parsed is a message read back with go-message.
type parsed struct {
	h     gmail.Header
	parts []part
}

func (m *parsed) part(t *testing.T, ct string) part {
	t.Helper()
	for _, p := range m.parts {
		if p.contentType == ct && p.disposition != "attachment" {
			return p
		}
	}
	t.Fatalf("no %s part", ct)
	return part{}
}

// parse reads a rendered message back (headers with go-message, the MIME
// tree with mailtest, which decodes any transfer encoding) and checks the
// wire-format rules every message must follow. Text and HTML bodies are
// given with LF line ends, as RenderParts gives them.
func parse(t *testing.T, data []byte) *parsed {
	t.Helper()
	checkWireFormat(t, data)
	mr, err := gmail.CreateReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("parse message: %v", err)
	}
	mr.Close()
	root, err := mailtest.Parse(data)
	if err != nil {
		t.Fatalf("parse message: %v", err)
	}
	out := &parsed{h: mr.Header}
	for _, l := range root.Leaves() {
		pt := part{contentType: l.MediaType, params: l.Params, body: string(l.Body)}
		if l.MediaType == "text/plain" || l.MediaType == "text/html" {
			pt.body = l.Text()
		}
		if l.Attachment() {
			pt.disposition = "attachment"
			_, ps, _ := mime.ParseMediaType(l.Header.Get("Content-Disposition"))
			pt.filename = ps["filename"]
		}
		out.parts = append(out.parts, pt)
	}
	return out
}

// checkWireFormat: CRLF only, lines ≤ 78 octets in the header and ≤ 76 in
// base64 bodies, no raw 8-bit header bytes.
func checkWireFormat(t *testing.T, data []byte) {
	t.Helper()
	if bytes.Contains(bytes.ReplaceAll(data, []byte("\r\n"), nil), []byte("\n")) {
		t.Error("bare LF in message")
	}
	head, _, ok := bytes.Cut(data, []byte("\r\n\r\n"))
	if !ok {
		t.Fatal("no header/body separator")
	}
	for _, l := range strings.Split(string(head), "\r\n") {
		if len(l) > 998 {
			t.Errorf("header line of %d octets", len(l))
		}
		for i := 0; i < len(l); i++ {
			if l[i] >= 0x80 {
				t.Fatalf("8-bit byte in header line %q", l)
			}
		}
		if strings.HasPrefix(l, "Subject:") || (strings.HasPrefix(l, " =?UTF-8?B?") && len(l) > 76) {
			if len(l) > 76 {
				t.Errorf("subject line of %d octets: %q", len(l), l)
			}
		}
	}
	for _, l := range strings.Split(string(data), "\r\n") {
		if len(l) > 998 {
			t.Errorf("line of %d octets", len(l))
		}
	}
}

// verifyURL checks that u is BASE/prefix/TOKEN and that the token verifies
// for purpose and delivery.
func verifyURL(t *testing.T, u, prefix string, purpose token.Purpose, delivery int64) token.Claims {
	t.Helper()
	base := "https://alumni.example.co.jp/" + prefix + "/"
	if !strings.HasPrefix(u, base) {
		t.Fatalf("URL %q does not start with %q", u, base)
	}
	tok := strings.TrimPrefix(u, base)
	tok, _, _ = strings.Cut(tok, "?")
	c, err := token.New(testSecret).Verify(tok, purpose)
	if err != nil {
		t.Fatalf("token of %q: %v", u, err)
	}
	if c.DeliveryID != delivery {
		t.Fatalf("token of %q is for delivery %d, want %d", u, c.DeliveryID, delivery)
	}
	return c
}

var hrefs = regexp.MustCompile(`(?:href|src)="([^"]*)"`)

func attrURLs(html string) []string {
	var out []string
	for _, m := range hrefs.FindAllStringSubmatch(html, -1) {
		out = append(out, strings.ReplaceAll(m[1], "&amp;", "&"))
	}
	return out
}

func TestNewsletterMessage(t *testing.T) {
	t.Parallel()
	p := mustPrepare(t, newsletter(), testOptions())
	m := mustRender(t, p, yamada())
	msg := parse(t, m.Data)
	h := msg.h

	if got, _ := h.Subject(); got != "山田様 Exampleアルムナイ通信 2026年冬号" {
		t.Errorf("Subject = %q", got)
	}
	from, _ := h.AddressList("From")
	if len(from) != 1 || from[0].Name != "Example株式会社 人事部" || from[0].Address != "alumni@example.co.jp" {
		t.Errorf("From = %v", from)
	}
	to, _ := h.AddressList("To")
	if len(to) != 1 || to[0].Name != "山田 太郎" || to[0].Address != "taro.yamada@example.jp" || m.To != "taro.yamada@example.jp" {
		t.Errorf("To = %v (m.To %q)", to, m.To)
	}
	if rt, _ := h.AddressList("Reply-To"); len(rt) != 1 || rt[0].Address != "alumni@example.co.jp" {
		t.Errorf("Reply-To = %v", rt)
	}
	if m.EnvelopeFrom != "alumni@example.co.jp" {
		t.Errorf("envelope sender %q without an inbound address", m.EnvelopeFrom)
	}
	lu := h.Get("List-Unsubscribe")
	if !strings.HasPrefix(lu, "<") || !strings.HasSuffix(lu, ">") || strings.Contains(lu, "mailto:") {
		t.Fatalf("List-Unsubscribe = %q", lu)
	}
	verifyURL(t, lu[1:len(lu)-1], "u", token.Unsubscribe, 4242)
	for k, want := range map[string]string{
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		"List-Id":               "<2026-q4-newsletter.example.co.jp>",
		"Feedback-ID":           "2026-q4-newsletter:7:kizuna:example.co.jp",
		"Precedence":            "bulk",
		"MIME-Version":          "1.0",
		"X-Kizuna-Test":         "",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if d, err := h.Date(); err != nil || !d.Equal(fixedNow()) {
		t.Errorf("Date = %v, %v", d, err)
	}
	id, err := h.MessageID()
	if err != nil || id != m.MessageID || !regexp.MustCompile(`^d4242\.7\.[a-z2-7]{16}@example\.co\.jp$`).MatchString(id) {
		t.Errorf("Message-ID = %q (%v), Message.MessageID %q", id, err, m.MessageID)
	}
	if mt, _, _ := h.ContentType(); mt != "multipart/alternative" {
		t.Errorf("Content-Type %q", mt)
	}
	if len(msg.parts) != 2 {
		t.Fatalf("%d parts, want text and HTML", len(msg.parts))
	}
	for _, ct := range []string{"text/plain", "text/html"} {
		pt := msg.part(t, ct)
		if !strings.EqualFold(pt.params["charset"], "utf-8") {
			t.Errorf("%s charset %q", ct, pt.params["charset"])
		}
		if !utf8.ValidString(pt.body) || !strings.Contains(pt.body, "山田 太郎 様") {
			t.Errorf("%s lacks the greeting", ct)
		}
	}
	if !bytes.Contains(m.Data, []byte("Content-Transfer-Encoding: base64")) {
		t.Error("bodies not base64")
	}
}

// Every part must carry what the Japanese law on commercial email requires.
func TestFooterCarriesLegalItems(t *testing.T) {
	t.Parallel()
	for _, theme := range []string{"default", "flat"} {
		for _, r := range []Recipient{yamada(), smith()} {
			c := newsletter()
			c.Template.Theme = theme
			p := mustPrepare(t, c, testOptions())
			msg := parse(t, mustRender(t, p, r).Data)
			html, text := msg.part(t, "text/html").body, msg.part(t, "text/plain").body
			want := []string{"Example株式会社", "東京都渋谷区神南1-2-3", "alumni@example.co.jp / 03-1234-5678", "https://example.co.jp/privacy"}
			if r.Locale == "ja" {
				want = append(want, "今後このようなメールの受信を希望されない場合は、以下のリンクから配信停止できます。", "配信停止", "配信設定の変更", "山田 太郎 様")
			} else {
				want = append(want, "If you no longer wish to receive these emails, you can unsubscribe", "Unsubscribe", "Manage preferences", "Dear Jane Smith,")
			}
			for _, w := range want {
				if !strings.Contains(html, w) || !strings.Contains(text, w) {
					t.Errorf("%s/%s: %q missing (html %v, text %v)", theme, r.Locale, w, strings.Contains(html, w), strings.Contains(text, w))
				}
			}
			unsub := 0
			for _, u := range attrURLs(html) {
				if strings.Contains(u, "/u/") {
					verifyURL(t, u, "u", token.Unsubscribe, r.DeliveryID)
					unsub++
				}
			}
			if unsub != 2 { // unsubscribe and preferences
				t.Errorf("%s/%s: %d unsubscribe/preferences links in HTML", theme, r.Locale, unsub)
			}
			if !regexp.MustCompile(`https://alumni\.example\.co\.jp/u/\S+`).MatchString(text) {
				t.Errorf("%s/%s: text part has no unsubscribe URL", theme, r.Locale)
			}
			if !strings.Contains(html, `lang="`+r.Locale+`"`) || !strings.Contains(html, "Hiragino Kaku Gothic ProN") == (r.Locale == "ja") && r.Locale == "ja" {
				t.Errorf("%s/%s: lang or CJK font stack missing", theme, r.Locale)
			}
			if r.Locale == "ja" {
				// Japanese greeting and signature use no ASCII commas.
				for _, l := range strings.Split(text, "\n") {
					if strings.Contains(l, "山田 太郎 様") || strings.Contains(l, "今後ともよろしく") {
						if strings.Contains(l, ",") {
							t.Errorf("ASCII comma in Japanese line %q", l)
						}
					}
				}
			}
		}
	}
}

func TestAlumniDataEscapedPerContext(t *testing.T) {
	t.Parallel()
	p := mustPrepare(t, newsletter(), testOptions())
	r := yamada()
	r.FamilyName = `<script>alert("x")</script>`
	r.GivenName = "太郎\r\nBcc: victim@example.com"
	r.Email = "taro+alumni@example.jp"
	m := mustRender(t, p, r)
	msg := parse(t, m.Data)
	html, text := msg.part(t, "text/html").body, msg.part(t, "text/plain").body
	if strings.Contains(html, "<script>") || !strings.Contains(html, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
		t.Error("HTML does not show the <script> name as text")
	}
	if !strings.Contains(text, `<script>alert("x")</script>`) {
		t.Error("plain text does not carry the name as it is")
	}
	if subj, _ := msg.h.Subject(); subj != `<script>alert("x")</script>様 Exampleアルムナイ通信 2026年冬号` {
		t.Errorf("Subject = %q", subj)
	}
	if msg.h.Get("Bcc") != "" {
		t.Error("CR/LF in a name injected a header")
	}
	head, _, _ := bytes.Cut(m.Data, []byte("\r\n\r\n"))
	if bytes.Contains(head, []byte("\r\nBcc:")) {
		t.Error("CR/LF reached the header")
	}
	// The email inside the careers link is percent-encoded in the target.
	var target string
	for _, u := range attrURLs(html) {
		if strings.Contains(u, "/c/") {
			target = verifyURL(t, u, "c", token.Click, r.DeliveryID).URL
		}
	}
	if target != "https://example.co.jp/careers?src=alumni&e=taro%2Balumni%40example.jp" {
		t.Errorf("click target = %q", target)
	}
}

func TestLinkTracking(t *testing.T) {
	t.Parallel()
	type want struct{ tracked, pixel, test bool }
	cases := map[string]struct {
		tracking campaigns.Tracking
		test     bool
		want     want
	}{
		"on":          {campaigns.Tracking{Opens: true, Clicks: true}, false, want{true, true, false}},
		"off":         {campaigns.Tracking{}, false, want{false, false, false}},
		"clicks only": {campaigns.Tracking{Clicks: true}, false, want{true, false, false}},
		"send-test":   {campaigns.Tracking{Opens: true, Clicks: true}, true, want{false, false, true}},
	}
	for name, tc := range cases {
		for _, mk := range []func() *campaigns.Campaign{newsletter, event} {
			c := mk()
			c.Tracking = tc.tracking
			o := testOptions()
			o.Test = tc.test
			p := mustPrepare(t, c, o)
			r := yamada()
			msg := parse(t, mustRender(t, p, r).Data)
			html, text := msg.part(t, "text/html").body, msg.part(t, "text/plain").body
			var clicks, opens, web int
			for _, u := range attrURLs(html) {
				switch {
				case strings.Contains(u, "alumni.example.co.jp/c/"):
					cl := verifyURL(t, u, "c", token.Click, r.DeliveryID)
					if !strings.HasPrefix(cl.URL, "https://example.co.jp/") {
						t.Errorf("%s %s: click target %q", name, c.ID, cl.URL)
					}
					clicks++
				case strings.Contains(u, "alumni.example.co.jp/o/"):
					verifyURL(t, u, "o", token.Open, r.DeliveryID)
					opens++
				case strings.Contains(u, "alumni.example.co.jp/u/"):
				case strings.Contains(u, "alumni.example.co.jp/r/"):
					verifyURL(t, u, "r", token.RSVP, r.DeliveryID)
				case u == "https://example.co.jp" || u == "https://example.co.jp/privacy":
					// the company's own links in masthead and footer are never rewritten
				case strings.HasPrefix(u, "https://example.co.jp/"):
					web++
				}
			}
			if tc.want.tracked && (clicks == 0 || web != 0) {
				t.Errorf("%s %s: %d tracked, %d untracked body links; want all tracked", name, c.ID, clicks, web)
			}
			if !tc.want.tracked && (clicks != 0 || web == 0) {
				t.Errorf("%s %s: %d tracked, %d untracked body links; want none tracked", name, c.ID, clicks, web)
			}
			if tc.want.tracked != strings.Contains(text, "alumni.example.co.jp/c/") {
				t.Errorf("%s %s: text part tracking differs from HTML", name, c.ID)
			}
			if (opens == 1) != tc.want.pixel || opens > 1 {
				t.Errorf("%s %s: %d open pixels", name, c.ID, opens)
			}
			subj, _ := msg.h.Subject()
			if tc.want.test != strings.HasPrefix(subj, "[TEST] ") || tc.want.test != (msg.h.Get("X-Kizuna-Test") == "1") {
				t.Errorf("%s %s: subject %q, X-Kizuna-Test %q", name, c.ID, subj, msg.h.Get("X-Kizuna-Test"))
			}
		}
	}
}

func TestInboundAddresses(t *testing.T) {
	t.Parallel()
	o := testOptions()
	o.InboundAddress = "reply@mail.example.co.jp"
	p := mustPrepare(t, event(), o)
	m := mustRender(t, p, yamada())
	msg := parse(t, m.Data)
	s := token.New(testSecret)
	check := func(what, addr, prefix string, purpose token.Purpose) {
		t.Helper()
		local, domain, _ := strings.Cut(addr, "@")
		if domain != "mail.example.co.jp" || !strings.HasPrefix(local, prefix) || len(local) > 64 {
			t.Fatalf("%s address %q", what, addr)
		}
		tok := strings.TrimPrefix(local, prefix)
		for _, form := range []string{tok, strings.ToUpper(tok)} {
			c, err := s.VerifyAddress(form, purpose)
			if err != nil || c.DeliveryID != 4242 {
				t.Errorf("%s token %q: %+v %v", what, form, c, err)
			}
		}
	}
	rt, _ := msg.h.AddressList("Reply-To")
	if len(rt) != 1 {
		t.Fatalf("Reply-To %v", rt)
	}
	check("Reply-To", rt[0].Address, "reply+", token.Reply)
	check("envelope", m.EnvelopeFrom, "reply+b.", token.Bounce)
	lu := msg.h.Get("List-Unsubscribe")
	https, mailto, ok := strings.Cut(lu, ", ")
	if !ok || !strings.HasPrefix(mailto, "<mailto:") {
		t.Fatalf("List-Unsubscribe = %q", lu)
	}
	verifyURL(t, strings.Trim(https, "<>"), "u", token.Unsubscribe, 4242)
	check("mailto unsubscribe", strings.TrimSuffix(strings.TrimPrefix(mailto, "<mailto:"), ">"), "reply+u.", token.Unsubscribe)

	cal, err := ics.ParseCalendar(strings.NewReader(msg.part(t, "text/calendar").body))
	if err != nil {
		t.Fatal(err)
	}
	// The ORGANIZER is the inbound address itself, the same in every
	// message of the event, so that calendars accept its updates.
	if org := cal.Events()[0].GetProperty(ics.ComponentPropertyOrganizer).Value; org != "mailto:reply@mail.example.co.jp" {
		t.Errorf("ORGANIZER = %q, want the inbound address", org)
	}
}

func TestEventInvitation(t *testing.T) {
	t.Parallel()
	p := mustPrepare(t, event(), testOptions())
	for _, r := range []Recipient{yamada(), smith()} {
		m := mustRender(t, p, r)
		msg := parse(t, m.Data)
		if mt, _, _ := msg.h.ContentType(); mt != "multipart/mixed" {
			t.Errorf("Content-Type %q", mt)
		}
		calPart := msg.part(t, "text/calendar")
		if calPart.params["method"] != "REQUEST" {
			t.Errorf("text/calendar method=%q", calPart.params["method"])
		}
		var attachment *part
		for i := range msg.parts {
			if msg.parts[i].disposition == "attachment" {
				attachment = &msg.parts[i]
			}
		}
		if attachment == nil || attachment.filename != "invite.ics" || attachment.body != calPart.body {
			t.Fatalf("invite.ics attachment missing or different")
		}
		raw := calPart.body
		for _, l := range strings.SplitAfter(raw, "\r\n") {
			if l == "" {
				continue
			}
			if !strings.HasSuffix(l, "\r\n") || len(l)-2 > 75 || !utf8.ValidString(l) {
				t.Errorf("bad iCalendar line %q (%d octets)", l, len(l)-2)
			}
		}
		cal, err := ics.ParseCalendar(strings.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		var method string
		for _, cp := range cal.CalendarProperties {
			if cp.IANAToken == "METHOD" {
				method = cp.Value
			}
		}
		if method != "REQUEST" {
			t.Errorf("METHOD %q", method)
		}
		ev := cal.Events()
		if len(ev) != 1 {
			t.Fatalf("%d events", len(ev))
		}
		e := ev[0]
		if e.Id() != "2026-12-year-end@example.co.jp" {
			t.Errorf("UID %q", e.Id())
		}
		start, _ := e.GetStartAt()
		end, _ := e.GetEndAt()
		if !start.Equal(time.Date(2026, 12, 18, 10, 0, 0, 0, time.UTC)) || !end.Equal(time.Date(2026, 12, 18, 12, 0, 0, 0, time.UTC)) {
			t.Errorf("DTSTART %v DTEND %v, want 19:00–21:00 Asia/Tokyo", start, end)
		}
		if seq := e.GetProperty(ics.ComponentPropertySequence).Value; seq != "2" {
			t.Errorf("SEQUENCE %q", seq)
		}
		if loc := e.GetProperty(ics.ComponentPropertyLocation).Value; loc != "東京都渋谷区神南1-2-3 Example本社 10F; ラウンジ, 受付" || !strings.Contains(raw, `10F\; ラウンジ\, `) {
			t.Errorf("LOCATION %q", loc)
		}
		if org := e.GetProperty(ics.ComponentPropertyOrganizer).Value; org != "mailto:alumni@example.co.jp" {
			t.Errorf("ORGANIZER %q", org)
		}
		att := e.Attendees()
		if len(att) != 1 || att[0].Email() != r.Email || att[0].ICalParameters["RSVP"][0] != "TRUE" || att[0].ParticipationStatus() != "NEEDS-ACTION" {
			t.Errorf("ATTENDEE %+v", att)
		}
		html, text := msg.part(t, "text/html").body, msg.part(t, "text/plain").body
		for _, a := range []string{"yes", "no", "maybe"} {
			n := 0
			for _, u := range attrURLs(html) {
				if strings.HasSuffix(u, "?a="+a) {
					verifyURL(t, u, "r", token.RSVP, r.DeliveryID)
					n++
				}
			}
			if n != 1 || !strings.Contains(text, "?a="+a) {
				t.Errorf("%s: %d RSVP %q links in HTML", r.Locale, n, a)
			}
		}
		wantStart := map[string]string{"ja": "2026年12月18日(金) 19:00", "en": "Fri, 18 Dec 2026 10:00 GMT"}[r.Locale]
		if !strings.Contains(html, wantStart) || !strings.Contains(text, wantStart) {
			t.Errorf("%s: event start %q not shown", r.Locale, wantStart)
		}
	}
}

func TestEventTimeFormats(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 12, 18, 19, 0, 0, 0, jst)
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	for _, c := range []struct{ locale, want string }{{"ja", "2026年12月18日(金) 19:00"}, {"en", "Fri, 18 Dec 2026 19:00 JST"}} {
		if got := formatEventTime(start, c.locale, tokyo); got != c.want {
			t.Errorf("%s: %q, want %q", c.locale, got, c.want)
		}
	}
}

// Long Japanese subjects become encoded words that each hold whole
// characters, on lines of at most 78 octets (RFC 5322 §2.1.1), 76 when
// they hold an encoded-word (RFC 2047 §2).
func TestSubjectEncoding(t *testing.T) {
	t.Parallel()
	for _, subj := range []string{
		"ascii only subject",
		strings.Repeat("髙橋さん﨑①㈱🎉", 12),
		"a" + strings.Repeat("あ", 3) + strings.Repeat("x", 80),
		"=?UTF-8?B?not-a-word?=",
		strings.Repeat("a long ascii subject ", 8),
	} {
		b := appendHeaderText([]byte("Subject: "), len("Subject: "), subj)
		for i, l := range strings.Split(string(b), "\r\n") {
			if len(l) > maxLineLen || strings.Contains(l, "=?") && len(l) > maxWordLineLen {
				t.Errorf("line %d of %d octets", i, len(l))
			}
		}
		for _, w := range encodedWordRE.FindAllString(string(b), -1) {
			if d, err := wordDecoder.Decode(w); err != nil || !utf8.ValidString(d) {
				t.Errorf("word %q: %q %v", w, d, err)
			}
		}
		unfolded := strings.TrimLeft(strings.ReplaceAll(strings.TrimPrefix(string(b), "Subject:"), "\r\n", ""), " ")
		dec, err := wordDecoder.DecodeHeader(unfolded)
		if err != nil || dec != subj {
			t.Errorf("decoded %q (%v), want %q", dec, err, subj)
		}
	}
}

func TestDKIMSignature(t *testing.T) {
	t.Parallel()
	o := testOptions()
	o.DKIM = testDKIM(t)
	p := mustPrepare(t, newsletter(), o)
	m := mustRender(t, p, yamada())
	msg := parse(t, m.Data)
	sig := strings.Join(strings.Fields(msg.h.Get("DKIM-Signature")), "")
	for _, w := range []string{"d=example.co.jp", "s=kizuna", "a=rsa-sha256", "List-Unsubscribe:List-Unsubscribe-Post"} {
		if !strings.Contains(sig, w) {
			t.Errorf("DKIM-Signature lacks %q: %s", w, sig)
		}
	}
	if !bytes.HasPrefix(m.Data, []byte("DKIM-Signature: ")) {
		t.Error("signature is not the first header")
	}
}

func TestRecipientFallbacks(t *testing.T) {
	t.Parallel()
	c := newsletter()
	delete(c.Template.Body, "en")
	p := mustPrepare(t, c, testOptions())
	r := smith()
	r.TimeZone = "Not/AZone"
	pt := p.RenderParts(r)
	if !strings.Contains(pt.HTML, `lang="ja"`) || !strings.Contains(pt.HTML, "Smith Jane 様") {
		t.Error("an en recipient of a ja-only campaign does not get the ja body")
	}
	r.FamilyName, r.GivenName = "", ""
	if pt := p.RenderParts(r); !strings.Contains(pt.Text, "アルムナイの皆様") {
		t.Error("nameless recipient not greeted as a group")
	}
	for _, bad := range []string{"not an address", "Taro <taro@example.jp>", "山田@example.jp", "a@b.jp\r\nBcc: c@d.jp"} {
		if _, err := p.Render(Recipient{Email: bad}); err == nil {
			t.Errorf("bad address %q rendered", bad)
		}
	}
}

func TestPrepareRejects(t *testing.T) {
	t.Parallel()
	bad := map[string]func(c *campaigns.Campaign, o *Options){
		"unknown field":   func(c *campaigns.Campaign, o *Options) { c.Subject["ja"] = "{{.Salary}}" },
		"template syntax": func(c *campaigns.Campaign, o *Options) { c.Subject["ja"] = "{{if .X}}hi{{end}}" },
		"event field in newsletter": func(c *campaigns.Campaign, o *Options) {
			c.Subject["ja"] = "{{.Event.Title}}"
		},
		"no signer":       func(c *campaigns.Campaign, o *Options) { o.Signer = nil },
		"bad base URL":    func(c *campaigns.Campaign, o *Options) { o.BaseURL = "javascript:alert(1)" },
		"javascript logo": func(c *campaigns.Campaign, o *Options) { c.Company.Logo = "javascript:alert(1)" },
		"bad from":        func(c *campaigns.Campaign, o *Options) { c.From = "nobody" },
		"no body":         func(c *campaigns.Campaign, o *Options) { c.Template.Body = nil },
		"unknown theme":   func(c *campaigns.Campaign, o *Options) { c.Template.Theme = "neon" },
		"long inbound":    func(c *campaigns.Campaign, o *Options) { o.InboundAddress = strings.Repeat("r", 30) + "@x.jp" },
		"bad inbound":     func(c *campaigns.Campaign, o *Options) { o.InboundAddress = "@@" },
	}
	for name, f := range bad {
		c, o := newsletter(), testOptions()
		f(c, &o)
		if _, err := Prepare(c, o); err == nil {
			t.Errorf("%s: Prepare accepted it", name)
		}
	}
}

// Many goroutines render from one Prepared (run with -race).
func TestConcurrentRender(t *testing.T) {
	t.Parallel()
	o := testOptions()
	o.InboundAddress = "reply@mail.example.co.jp"
	p := mustPrepare(t, event(), o)
	want := p.RenderParts(yamada()).HTML
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				r := yamada()
				if (g+i)%2 == 1 {
					r = smith()
				}
				r.DeliveryID = int64(g*1000 + i)
				m, err := p.Render(r)
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Contains(m.Data, []byte(fmt.Sprintf("<d%d.7.", r.DeliveryID))) {
					errs <- fmt.Errorf("delivery %d: wrong Message-ID", r.DeliveryID)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if p.RenderParts(yamada()).HTML != want {
		t.Error("rendering changed after concurrent use")
	}
}

// Body base64 lines are at most 76 characters.
func TestBodyLineLength(t *testing.T) {
	t.Parallel()
	m := mustRender(t, mustPrepare(t, event(), testOptions()), yamada())
	sc := bufio.NewScanner(bytes.NewReader(m.Data))
	for sc.Scan() {
		if len(sc.Text()) > 76 && !strings.HasPrefix(sc.Text(), "To:") && !strings.HasPrefix(sc.Text(), "List-Unsubscribe:") {
			t.Errorf("line of %d: %q", len(sc.Text()), sc.Text())
		}
	}
}

var _ = url.QueryEscape

func TestMultiLineSignature(t *testing.T) {
	t.Parallel()
	c := newsletter()
	b := c.Template.Body["ja"]
	b.Signature = "株式会社サンプル 人事部\nアルムナイ担当 佐藤 <sato@example.co.jp>\n"
	c.Template.Body["ja"] = b
	pt := mustPrepare(t, c, testOptions()).RenderParts(yamada())
	if !strings.Contains(pt.HTML, "株式会社サンプル 人事部<br />アルムナイ担当 佐藤 &lt;sato@example.co.jp>" /* the minifier writes > as it is in text */) {
		t.Error("HTML signature lines not kept")
	}
	if !strings.Contains(pt.Text, "株式会社サンプル 人事部\nアルムナイ担当 佐藤 <sato@example.co.jp>") {
		t.Errorf("text signature lines not kept:\n%s", pt.Text)
	}
}

// The Message-ID is derived from the delivery, not the attempt: a copy sent
// again after a crash (another attempt, another process) carries the same
// one, so receiving systems fold the two. Other deliveries, other
// installations (secrets) and every preview or test copy (delivery 0) get
// their own.
func TestMessageIDStablePerDelivery(t *testing.T) {
	t.Parallel()
	first := mustRender(t, mustPrepare(t, newsletter(), testOptions()), yamada())
	if !regexp.MustCompile(`^d4242\.7\.[a-z2-7]{16}@example\.co\.jp$`).MatchString(first.MessageID) {
		t.Fatalf("Message-ID %q, want d4242.7.DIGEST@example.co.jp", first.MessageID)
	}
	again := mustPrepare(t, newsletter(), testOptions()) // as in another worker process
	for i := 0; i < 2; i++ {
		if m := mustRender(t, again, yamada()); m.MessageID != first.MessageID {
			t.Errorf("attempt %d of delivery 4242: Message-ID %q, first attempt %q", i+2, m.MessageID, first.MessageID)
		}
	}
	if m := mustRender(t, again, smith()); m.MessageID == first.MessageID || !strings.HasPrefix(m.MessageID, "d4243.7.") {
		t.Errorf("delivery 4243: Message-ID %q (delivery 4242: %q)", m.MessageID, first.MessageID)
	}
	o := testOptions()
	o.Signer = token.New([]byte("another installation's secret, 32+ bytes"))
	if m := mustRender(t, mustPrepare(t, newsletter(), o), yamada()); m.MessageID == first.MessageID {
		t.Errorf("another secret gives the same Message-ID %q", m.MessageID)
	}
	preview := yamada()
	preview.DeliveryID = 0
	a, b := mustRender(t, again, preview), mustRender(t, again, preview)
	if a.MessageID == b.MessageID || !strings.HasPrefix(a.MessageID, "d0.7.") {
		t.Errorf("two copies without a delivery: Message-IDs %q and %q, want distinct d0.7.…", a.MessageID, b.MessageID)
	}
}

// RenderAppend writes each message over the buffer it is given, and gives
// the same bytes as Render: a sender reusing one buffer sends exactly what
// a fresh render would, message after message, with or without 8BITMIME.
func TestRenderAppendReusesTheBuffer(t *testing.T) {
	for _, eight := range []bool{false, true} {
		o := testOptions()
		o.EightBitMIME = eight
		p := mustPrepare(t, newsletter(), o)
		var buf []byte
		for i, r := range []Recipient{yamada(), smith(), yamada()} {
			want := mustRender(t, p, r)
			got, err := p.RenderAppend(buf, r)
			if err != nil {
				t.Fatal(err)
			}
			if string(got.Data) != string(want.Data) || got.EightBit != want.EightBit {
				t.Fatalf("8BITMIME %v, message %d: RenderAppend differs from Render", eight, i)
			}
			if i > 0 && cap(buf) >= len(got.Data) && &got.Data[0] != &buf[:1][0] {
				t.Fatalf("8BITMIME %v, message %d: a buffer with room was not reused", eight, i)
			}
			buf = got.Data[:0]
		}
	}
}

// A copy of a part that goes as it is is checked by its values only when
// they fit (asIsTemplate.valuesFit); it must come out exactly as the full
// scan of its body would write it, for ordinary values and for those that
// need the scan (quotes, CR and LF, a NUL, a 1,000-character name, 8-bit
// names in an English message).
func TestAsIsCopiesEqualTheScannedOnes(t *testing.T) {
	o := testOptions()
	o.EightBitMIME = true
	fast := mustPrepare(t, newsletter(), o)
	saved := map[*localeTemplate][2]*asIsTemplate{}
	for _, lt := range fast.locales {
		saved[lt] = lt.asIs
	}
	scan := func(on bool) { // the same Prepared (its MIME boundaries) either way
		for lt, a := range saved {
			if on {
				lt.asIs = [2]*asIsTemplate{}
			} else {
				lt.asIs = a
			}
		}
	}
	var checked int
	for _, lt := range fast.locales {
		for _, a := range lt.asIs {
			if a != nil {
				checked++
			}
		}
	}
	if checked == 0 {
		t.Fatal("no part goes as it is: the test checks nothing")
	}
	long := strings.Repeat("長", 1000)
	var rs []Recipient
	for _, r := range []Recipient{yamada(), smith()} {
		rs = append(rs, r)
		for _, v := range []string{`O'Brien & "Sons" <x>`, "a\r\nb", "a\nb", "a\rb", "a\x00b", long, "山田"} {
			r2 := r
			r2.FamilyName, r2.Department = v, v
			rs = append(rs, r2)
		}
	}
	for i, r := range rs {
		scan(false)
		a, err := fast.Render(r)
		if err != nil {
			t.Fatal(err)
		}
		scan(true)
		b, err := fast.Render(r)
		if err != nil {
			t.Fatal(err)
		}
		if string(a.Data) != string(b.Data) || a.EightBit != b.EightBit {
			t.Errorf("recipient %d (%q): the value check and the scan write different copies", i, r.FamilyName)
		}
	}
}
