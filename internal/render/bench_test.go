package render

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/matcornic/hermes/v2"
	gomail "github.com/wneessen/go-mail"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/token"
	"github.com/kizuna-alumni/kizuna/templates"
)

// benchRecipients builds n distinct recipients, alternating locales.
func benchRecipients(n int) []Recipient {
	rs := make([]Recipient, n)
	for i := range rs {
		r := yamada()
		if i%4 == 3 {
			r = smith()
		}
		r.DeliveryID = int64(100000 + i)
		r.Email = fmt.Sprintf("alumnus%06d@example.jp", i)
		rs[i] = r
	}
	return rs
}

// BenchmarkRenderPrepared measures the per-recipient path: values, tokens,
// HTML + text substitution, MIME assembly with base64 bodies.
func BenchmarkRenderPrepared(b *testing.B) {
	const n = 2000
	rs := benchRecipients(n)
	c := newsletter()
	var size int
	var prep time.Duration
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		p := mustPrepare(b, c, testOptions())
		prep = time.Since(t0)
		for _, r := range rs {
			m, err := p.Render(r)
			if err != nil {
				b.Fatal(err)
			}
			size = len(m.Data)
		}
	}
	perRecipient := (b.Elapsed() - prep*time.Duration(b.N)) / time.Duration(b.N*n)
	b.StopTimer()
	// The reference in the same run: the naive path on a small sample.
	const naiveN = 20
	t0 := time.Now()
	for _, r := range rs[:naiveN] {
		naiveRender(b, c, r)
	}
	naive := time.Since(t0) / naiveN
	b.ReportMetric(float64(perRecipient.Nanoseconds())/1000, "µs/recipient")
	b.ReportMetric(float64(naive.Nanoseconds())/1000, "µs/recipient-naive")
	b.ReportMetric(float64(size), "bytes/msg")
	b.ReportMetric(float64(prep.Microseconds())/1000, "ms-prepare")
	b.Logf("\n  machine      %s, GOMAXPROCS=%d\n  input        newsletter (ja+en), %d recipients, %d-byte messages\n"+
		"  prepare      %v (Hermes + CSS inliner + MIME skeleton, 2 locales, once)\n"+
		"  prepared     %v per recipient (target ≤ 50µs)\n  naive        %v per recipient (Hermes + go-mail each time; reference 2.1 ms)\n  speed-up     %.0fx",
		cpuModel(), runtime.GOMAXPROCS(0), n, size, prep, perRecipient, naive, float64(naive)/float64(perRecipient))
}

// cpuModel names the processor for benchmark tables.
func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// BenchmarkRenderPrepared8BITMIME is the prepared path for a relay that
// offers 8BITMIME: the parts go as they are (8bit), checked and copied with
// CRLF line ends instead of base64- or quoted-printable-encoded.
func BenchmarkRenderPrepared8BITMIME(b *testing.B) {
	const n = 2000
	rs := benchRecipients(n)
	o := testOptions()
	o.EightBitMIME = true
	var size int
	var prep time.Duration
	for b.Loop() {
		t0 := time.Now()
		p := mustPrepare(b, newsletter(), o)
		prep = time.Since(t0)
		for _, r := range rs {
			m, err := p.Render(r)
			if err != nil {
				b.Fatal(err)
			}
			size = len(m.Data)
		}
	}
	perRecipient := (b.Elapsed() - prep*time.Duration(b.N)) / time.Duration(b.N*n)
	b.ReportMetric(float64(perRecipient.Nanoseconds())/1000, "µs/recipient")
	b.ReportMetric(float64(size), "bytes/msg")
	b.ReportMetric(float64(prep.Microseconds())/1000, "ms-prepare")
	b.Logf("recipients=%d message=%d bytes per-recipient with 8BITMIME=%v prepare=%v", n, size, perRecipient, prep)
}

// BenchmarkRenderPreparedDKIM is the prepared path with RSA-2048 DKIM signing.
func BenchmarkRenderPreparedDKIM(b *testing.B) {
	const n = 500
	rs := benchRecipients(n)
	o := testOptions()
	o.DKIM = testDKIM(b)
	var size int
	var prep time.Duration
	for b.Loop() {
		t0 := time.Now()
		p := mustPrepare(b, newsletter(), o)
		prep = time.Since(t0)
		for _, r := range rs {
			m, err := p.Render(r)
			if err != nil {
				b.Fatal(err)
			}
			size = len(m.Data)
		}
	}
	perRecipient := (b.Elapsed() - prep*time.Duration(b.N)) / time.Duration(b.N*n)
	b.ReportMetric(float64(perRecipient.Nanoseconds())/1000, "µs/recipient")
	b.ReportMetric(float64(size), "bytes/msg")
	b.Logf("recipients=%d message=%d bytes per-recipient with RSA-2048 DKIM=%v", n, size, perRecipient)
}

// BenchmarkRenderNaive is the reference: Hermes HTML + text, a go-mail Msg
// and WriteTo for every recipient.
func BenchmarkRenderNaive(b *testing.B) {
	const n = 100
	rs := benchRecipients(n)
	c := newsletter()
	var size int
	for b.Loop() {
		for _, r := range rs {
			size = naiveRender(b, c, r)
		}
	}
	perRecipient := b.Elapsed() / time.Duration(b.N*n)
	b.ReportMetric(float64(perRecipient.Nanoseconds())/1000, "µs/recipient")
	b.ReportMetric(float64(size), "bytes/msg")
	b.Logf("recipients=%d message=%d bytes per-recipient (naive Hermes + go-mail)=%v", n, size, perRecipient)
}

// naiveRender renders one message the straightforward way and returns its size.
func naiveRender(b *testing.B, c *campaigns.Campaign, r Recipient) int {
	loc := r.Locale
	body := c.Template.Body[loc]
	full := fullName(r.FamilyName, r.GivenName, loc)
	rep := strings.NewReplacer("{{.FamilyName}}", r.FamilyName, "{{.GivenName}}", r.GivenName, "{{.FullName}}", full,
		"{{.Department}}", r.Department, "{{.Email}}", r.Email, "{{.YearsSinceLeft}}", yearsSince(r.LeftOn, fixedNow()),
		"{{.JoinedOn}}", formatDate(r.JoinedOn, loc), "{{.LeftOn}}", formatDate(r.LeftOn, loc))
	signer := token.New(testSecret)
	unsub := "https://alumni.example.co.jp/u/" + signer.Sign(token.Claims{Purpose: token.Unsubscribe, DeliveryID: r.DeliveryID})
	theme, err := templates.NewTheme("default", loc, templates.Placeholders{
		Greeting: full + " 様", Subject: rep.Replace(c.Subject[loc]), CompanyName: c.Company.Name, CompanyAddress: c.Company.Address,
		CompanyContact: c.Company.Contact, CompanyURL: c.Company.URL, PrivacyURL: c.Company.PrivacyURL, Unsubscribe: unsub,
		Open: "https://alumni.example.co.jp/o/" + signer.Sign(token.Claims{Purpose: token.Open, DeliveryID: r.DeliveryID}),
	}, templates.Options{Privacy: true, Open: true})
	if err != nil {
		b.Fatal(err)
	}
	hb := hermes.Body{Signature: "Kind regards"}
	for _, s := range body.Intros {
		hb.Intros = append(hb.Intros, rep.Replace(s))
	}
	for _, e := range body.Dictionary {
		hb.Dictionary = append(hb.Dictionary, hermes.Entry{Key: e.Key, Value: rep.Replace(e.Value)})
	}
	for _, a := range body.Actions {
		link := "https://alumni.example.co.jp/c/" + signer.Sign(token.Claims{Purpose: token.Click, DeliveryID: r.DeliveryID, URL: rep.Replace(a.ButtonLink)})
		hb.Actions = append(hb.Actions, hermes.Action{Instructions: a.Instructions, Button: hermes.Button{Text: a.ButtonText, Link: link}})
	}
	hb.Outros = body.Outros
	h := hermes.Hermes{Theme: theme}
	htmlOut, err := h.GenerateHTML(hermes.Email{Body: hb})
	if err != nil {
		b.Fatal(err)
	}
	textOut, err := h.GeneratePlainText(hermes.Email{Body: hb})
	if err != nil {
		b.Fatal(err)
	}
	m := gomail.NewMsg(gomail.WithEncoding(gomail.EncodingB64))
	m.FromFormat("Example株式会社 人事部", "alumni@example.co.jp")
	m.AddToFormat(full, r.Email)
	m.Subject(rep.Replace(c.Subject[loc]))
	m.SetMessageID()
	m.SetDate()
	m.SetListUnsubscribeOneClick(unsub)
	m.SetGenHeader("List-Id", "<"+c.ID+".example.co.jp>")
	m.SetBodyString(gomail.TypeTextPlain, textOut)
	m.AddAlternativeString(gomail.TypeTextHTML, htmlOut)
	cw := &countWriter{}
	if _, err := m.WriteTo(cw); err != nil {
		b.Fatal(err)
	}
	return cw.n
}

type countWriter struct{ n int }

func (w *countWriter) Write(p []byte) (int, error) { w.n += len(p); return io.Discard.Write(p) }
