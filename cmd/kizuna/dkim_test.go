package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

// KIZUNA_DKIM_KEY_FILE signs the previewed message as the From domain with
// the configured selector, with an RSA-2048 (PKCS#1) or Ed25519 (PKCS#8)
// key, and the signature verifies against the public key; a key that
// cannot be read is exit 2.
func TestDKIMKeyFromEnvironment(t *testing.T) {
	t.Parallel()
	env, file := previewSetup(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaPub, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	edPub, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edDER, err := x509.MarshalPKCS8PrivateKey(edKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []struct {
		name, algo, pemType string
		der                 []byte
		record              string
	}{
		{"rsa", "rsa-sha256", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey), "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(rsaPub)},
		{"ed25519", "ed25519-sha256", "PRIVATE KEY", edDER, "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(edPub)},
	} {
		keyFile := filepath.Join(t.TempDir(), "dkim.pem")
		if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: k.pemType, Bytes: k.der}), 0o600); err != nil {
			t.Fatal(err)
		}
		env["KIZUNA_DKIM_KEY_FILE"] = keyFile
		env["KIZUNA_DKIM_SELECTOR"] = "alumni2026"
		lookup := func(name string) ([]string, error) {
			if name != "alumni2026._domainkey.example.co.jp" {
				return nil, errors.New("no TXT record for " + name)
			}
			return []string{k.record}, nil
		}
		for _, to := range []string{"hanako@example.jp", "john@example.com"} {
			code, out, errOut := runApp(t, env, "campaign", "preview", file, "--to", to, "--format", "eml")
			if code != 0 {
				t.Fatalf("%s %s: exit %d: %s", k.name, to, code, errOut)
			}
			vs, err := dkim.VerifyWithOptions(strings.NewReader(out), &dkim.VerifyOptions{LookupTXT: lookup})
			if err != nil || len(vs) != 1 {
				t.Fatalf("%s %s: verification %v, %v; want one signature", k.name, to, vs, err)
			}
			if v := vs[0]; v.Err != nil || v.Domain != "example.co.jp" {
				t.Errorf("%s %s: DKIM d=%s: %v", k.name, to, v.Domain, v.Err)
			}
			signed := strings.ToLower(strings.Join(vs[0].HeaderKeys, ":"))
			if !strings.Contains(signed, "list-unsubscribe:list-unsubscribe-post") {
				t.Errorf("%s %s: h=%s lacks List-Unsubscribe and List-Unsubscribe-Post (RFC 8058 §4)", k.name, to, signed)
			}
			msg, err := mail.ReadMessage(bytes.NewReader([]byte(out)))
			if err != nil {
				t.Fatal(err)
			}
			if a := msg.Header.Get("DKIM-Signature"); !strings.Contains(strings.Join(strings.Fields(a), ""), "a="+k.algo+";") {
				t.Errorf("%s %s: DKIM-Signature %q, want a=%s", k.name, to, a, k.algo)
			}
			// A preview belongs to no run: run 0, and a new Message-ID each time.
			if got := msg.Header.Get("Feedback-ID"); !strings.HasSuffix(got, ":0:kizuna:example.co.jp") {
				t.Errorf("%s %s: Feedback-ID %q, want CAMPAIGN:0:kizuna:example.co.jp", k.name, to, got)
			}
			if id := msg.Header.Get("Message-ID"); !regexp.MustCompile(`^<d0\.0\.[a-z2-7]+@example\.co\.jp>$`).MatchString(id) {
				t.Errorf("%s %s: Message-ID %q, want <d0.0.RANDOM@example.co.jp>", k.name, to, id)
			}
		}
	}

	env["KIZUNA_DKIM_KEY_FILE"] = filepath.Join(t.TempDir(), "missing.pem")
	code, _, errOut := runApp(t, env, "campaign", "preview", file, "--to", "john@example.com", "--format", "eml")
	if code != 2 || !strings.Contains(errOut, "KIZUNA_DKIM_KEY_FILE") {
		t.Fatalf("missing key: exit %d, stderr %q", code, errOut)
	}
}
