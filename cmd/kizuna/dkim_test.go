package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// KIZUNA_DKIM_KEY_FILE signs the previewed message as the From domain with
// the configured selector; a key that cannot be read is exit 2.
func TestDKIMKeyFromEnvironment(t *testing.T) {
	t.Parallel()
	env, file := previewSetup(t)
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "dkim.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	env["KIZUNA_DKIM_KEY_FILE"] = keyFile
	env["KIZUNA_DKIM_SELECTOR"] = "alumni2026"

	code, out, errOut := runApp(t, env, "campaign", "preview", file, "--to", "john@example.com", "--format", "eml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	head, _, _ := strings.Cut(out, "\r\n\r\n")
	sig := ""
	for _, l := range strings.Split(strings.ReplaceAll(head, "\r\n ", " "), "\r\n") {
		if strings.HasPrefix(l, "DKIM-Signature:") {
			sig = l
		}
	}
	// Verifiers strip folding white space from tag values (RFC 6376 §3.2).
	tags := strings.ToLower(strings.NewReplacer(" ", "", "\t", "").Replace(sig))
	for _, want := range []string{"d=example.co.jp;", "s=alumni2026;", "a=ed25519-sha256;", ":list-unsubscribe:list-unsubscribe-post:"} {
		if !strings.Contains(tags, want) {
			t.Errorf("DKIM-Signature lacks %q: %q", want, sig)
		}
	}

	env["KIZUNA_DKIM_KEY_FILE"] = filepath.Join(t.TempDir(), "missing.pem")
	code, _, errOut = runApp(t, env, "campaign", "preview", file, "--to", "john@example.com", "--format", "eml")
	if code != 2 || !strings.Contains(errOut, "KIZUNA_DKIM_KEY_FILE") {
		t.Fatalf("missing key: exit %d, stderr %q", code, errOut)
	}
}
