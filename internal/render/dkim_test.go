package render

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/mailer"
	"github.com/kizuna-alumni/kizuna/internal/smtptest"
)

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

// testRSAKey is one throwaway RSA-2048 key per test binary (generating one
// takes long).
func testRSAKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	rsaOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		rsaKey = k
	})
	return rsaKey
}

// testDKIM signs as example.co.jp with a throwaway RSA-2048 key.
func testDKIM(t testing.TB) *DKIM {
	t.Helper()
	return &DKIM{Domain: "example.co.jp", Selector: "kizuna", Key: testRSAKey(t)}
}

// dkimKey is a signing key and the DNS TXT record (RFC 6376 §3.6.1) that
// publishes its public half.
type dkimKey struct {
	name   string
	dkim   *DKIM
	record string
}

// testDKIMKeys are an RSA-2048 and an Ed25519 key (RFC 8463), signing as
// the campaign's From domain with selector "kizuna".
func testDKIMKeys(t testing.TB) []dkimKey {
	t.Helper()
	rk := testRSAKey(t)
	rsaDER, err := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	edPub, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return []dkimKey{
		{"rsa-2048", &DKIM{Selector: "kizuna", Key: rk}, "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(rsaDER)},
		// RFC 8463 §4.2: p= is the raw 32-octet Ed25519 public key.
		{"ed25519", &DKIM{Selector: "kizuna", Key: edKey}, "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(edPub)},
	}
}

// verifyDKIM checks data's one DKIM signature with go-msgauth against key's
// public record for selector._domainkey.domain (no DNS), and that the
// signature covers the headers RFC 8058 §4 requires and its h= tag is
// well formed as strict verifiers parse it.
func verifyDKIM(t *testing.T, what string, data []byte, k dkimKey, domain string) {
	t.Helper()
	want := k.dkim.Selector + "._domainkey." + domain
	lookup := func(name string) ([]string, error) {
		if name != want {
			return nil, errors.New("no TXT record for " + name)
		}
		return []string{k.record}, nil
	}
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(data), &dkim.VerifyOptions{LookupTXT: lookup})
	if err != nil {
		t.Fatalf("%s: verify: %v", what, err)
	}
	if len(vs) != 1 {
		t.Fatalf("%s: %d DKIM signatures, want 1", what, len(vs))
	}
	checkHTag(t, what, data)
	v := vs[0]
	if v.Err != nil {
		t.Errorf("%s: DKIM signature does not verify: %v", what, v.Err)
		return
	}
	if v.Domain != domain {
		t.Errorf("%s: d=%s, want %s", what, v.Domain, domain)
	}
	signed := map[string]bool{}
	for _, h := range v.HeaderKeys {
		signed[strings.ToLower(h)] = true
	}
	for _, h := range []string{"from", "to", "subject", "date", "message-id", "list-unsubscribe", "list-unsubscribe-post", "list-id", "feedback-id"} {
		if !signed[h] {
			t.Errorf("%s: %s is not signed (h=%v)", what, h, v.HeaderKeys)
		}
	}
}

// checkHTag checks the raw h= tag of the DKIM-Signature: white space may
// only surround the colons (RFC 6376 §3.5, sig-h-tag), never split a
// header name, which verifiers such as dkimpy do not repair.
func checkHTag(t *testing.T, what string, data []byte) {
	t.Helper()
	head, _, _ := bytes.Cut(data, []byte("\r\n\r\n"))
	var field string
	for _, l := range strings.Split(string(head), "\r\n") {
		if strings.HasPrefix(strings.ToLower(l), "dkim-signature:") {
			field = l
		} else if field != "" && (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")) {
			field += "\r\n" + l
		} else if field != "" {
			break
		}
	}
	if field == "" {
		t.Errorf("%s: no DKIM-Signature", what)
		return
	}
	for _, tag := range strings.Split(field[len("DKIM-Signature:"):], ";") {
		name, val, _ := strings.Cut(tag, "=")
		if strings.TrimSpace(name) != "h" {
			continue
		}
		for _, h := range strings.Split(val, ":") {
			h = strings.Trim(h, " \t\r\n")
			if h == "" || strings.ContainsAny(h, " \t\r\n") {
				t.Errorf("%s: h= tag holds a broken header name %q:\n%s", what, h, field)
			}
		}
		return
	}
	t.Errorf("%s: no h= tag in %q", what, field)
}

// exampleCampaigns loads examples/campaigns as users load them.
func exampleCampaigns(t *testing.T) []*campaigns.Campaign {
	t.Helper()
	cs, problems := campaigns.Load(filepath.Join("..", "..", "examples", "campaigns"))
	if len(problems) > 0 {
		t.Fatalf("examples do not load:\n%v", problems)
	}
	if len(cs) < 4 {
		t.Fatalf("%d example campaigns, want at least 4", len(cs))
	}
	return cs
}

// Every example campaign, in both locales, with and without an inbound
// address (which adds Reply-To and a folded List-Unsubscribe), as a real
// and as a test send, signed with an RSA-2048 and an Ed25519 key,
// verifies against the public key.
func TestDKIMSignaturesVerify(t *testing.T) {
	t.Parallel()
	for _, k := range testDKIMKeys(t) {
		for _, c := range exampleCampaigns(t) {
			for _, inbound := range []string{"", "reply@mail.example.co.jp"} {
				for _, test := range []bool{false, true} {
					o := testOptions()
					o.InboundAddress, o.Test, o.DKIM = inbound, test, k.dkim
					p := mustPrepare(t, c, o)
					for _, r := range []Recipient{yamada(), smith()} {
						if _, ok := c.Template.Body[r.Locale]; !ok {
							continue
						}
						m := mustRender(t, p, r)
						what := c.ID + "/" + r.Locale + "/" + k.name
						if inbound != "" {
							what += "/inbound"
						}
						if test {
							what += "/test"
						}
						verifyDKIM(t, what, m.Data, k, p.fromDomain)
					}
				}
			}
		}
	}
}

// A verifier that accepted anything would make the test above useless: a
// changed signed header or body must fail.
func TestDKIMTamperedMessageFails(t *testing.T) {
	t.Parallel()
	k := testDKIMKeys(t)[1]
	o := testOptions()
	o.DKIM = k.dkim
	m := mustRender(t, mustPrepare(t, newsletter(), o), yamada())
	lookup := func(string) ([]string, error) { return []string{k.record}, nil }
	for name, data := range map[string][]byte{
		"subject": bytes.Replace(m.Data, []byte("\r\nSubject: "), []byte("\r\nSubject: Re: "), 1),
		"body":    append(bytes.Clone(m.Data), "tail\r\n"...),
	} {
		vs, err := dkim.VerifyWithOptions(bytes.NewReader(data), &dkim.VerifyOptions{LookupTXT: lookup})
		if err != nil || len(vs) != 1 || vs[0].Err == nil {
			t.Errorf("%s changed: verification %v, %v; want a failed signature", name, vs, err)
		}
	}
}

// Signed messages still verify as the relay received them: sent through
// the in-process SMTP server with the product's sender.
func TestDKIMSurvivesSMTP(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	relay, err := mailer.ParseRelay(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	sender := mailer.NewSender(relay)
	defer sender.Close()
	type sent struct {
		key    dkimKey
		domain string
		what   string
	}
	byTo := map[string]sent{}
	o := testOptions()
	o.InboundAddress = "reply@mail.example.co.jp"
	n := 0
	for _, k := range testDKIMKeys(t) {
		o.DKIM = k.dkim
		for _, c := range exampleCampaigns(t) {
			p := mustPrepare(t, c, o)
			for _, r := range []Recipient{yamada(), smith()} {
				if _, ok := c.Template.Body[r.Locale]; !ok {
					continue
				}
				n++
				r.DeliveryID = int64(9000 + n)
				r.SendTo = "alumnus" + strings.Repeat("x", n%3) + "." + c.ID + "." + k.name + "@" + r.Locale + ".example.jp"
				m := mustRender(t, p, r)
				if err := sender.Send(context.Background(), mailer.Envelope{From: m.EnvelopeFrom, To: m.To, Data: m.Data}); err != nil {
					t.Fatalf("send %s: %v", m.To, err)
				}
				byTo[m.To] = sent{k, p.fromDomain, c.ID + "/" + r.Locale + "/" + k.name}
			}
		}
	}
	got := srv.Messages()
	if len(got) != n {
		t.Fatalf("server received %d messages, want %d", len(got), n)
	}
	for _, msg := range got {
		s, ok := byTo[msg.To[0]]
		if !ok {
			t.Fatalf("unexpected recipient %v", msg.To)
		}
		verifyDKIM(t, s.what+" after SMTP", msg.Data, s.key, s.domain)
	}
}

// LoadDKIM reads the PEM forms openssl and ssh-keygen-era tools write, and
// refuses, naming the file but never quoting the key, what DKIM cannot use.
func TestLoadDKIM(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	rk := testRSAKey(t)
	_, ek, _ := ed25519.GenerateKey(rand.Reader)
	for name, path := range map[string]string{
		"rsa pkcs1": write("rsa1.pem", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rk)),
		"rsa pkcs8": write("rsa8.pem", "PRIVATE KEY", pkcs8(rk)),
		"ed25519":   write("ed.pem", "PRIVATE KEY", pkcs8(ek)),
	} {
		d, err := LoadDKIM("example.co.jp", "kizuna", path)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if _, err := newDKIMSigner(d); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}

	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("not a key at all"), 0o600)
	for _, c := range []struct{ path, want string }{
		// A throwaway key: Go no longer generates RSA keys this short.
		{filepath.Join("testdata", "dkim-rsa512.pem"), "512 bits"},
		{write("ec.pem", "PRIVATE KEY", pkcs8(ec)), "unsupported key type"},
		{write("cert.pem", "CERTIFICATE", []byte("xyz")), "not a private key"},
		{write("broken.pem", "PRIVATE KEY", []byte("secretbytes")), "parse PRIVATE KEY"},
		{garbage, "no PEM block"},
		{filepath.Join(dir, "missing.pem"), "no such file"},
	} {
		_, err := LoadDKIM("example.co.jp", "kizuna", c.path)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), filepath.Base(c.path)) {
			t.Errorf("%s: error %v, want one naming the file and %q", filepath.Base(c.path), err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), base64.StdEncoding.EncodeToString([]byte("secretbytes"))) {
			t.Errorf("%s: error quotes the key: %v", c.path, err)
		}
	}
}
