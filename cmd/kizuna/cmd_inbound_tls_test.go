package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/internal/testbin"
	"github.com/kizuna-alumni/kizuna/internal/testdb"
)

// selfSigned writes a self-signed certificate for in.example.co.jp and its
// key into dir and returns their paths and the pool that trusts it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "in.example.co.jp"}, DNSNames: []string{"in.example.co.jp"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "privkey.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pool
}

// A TLS variable alone, a missing file or an unusable one stops `kizuna
// inbound` with exit 2 and a message naming the variable or the path,
// never the key's content.
func TestInboundTLSConfigErrorsExit2(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile, _ := selfSigned(t, dir)
	keyPEM, _ := os.ReadFile(keyFile)
	keyBody := strings.Split(string(keyPEM), "\n")[1]
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("not a certificate\n"), 0o600)
	base := func(kv ...string) map[string]string {
		m := map[string]string{"KIZUNA_SECRET": testSecret, "KIZUNA_INBOUND_LISTEN": "127.0.0.1:0",
			"KIZUNA_INBOUND_ADDRESS": "reply@in.example.co.jp"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"cert alone", base("KIZUNA_INBOUND_TLS_CERT", certFile), []string{"KIZUNA_INBOUND_TLS_CERT is set but KIZUNA_INBOUND_TLS_KEY is not"}},
		{"key alone", base("KIZUNA_INBOUND_TLS_KEY", keyFile), []string{"KIZUNA_INBOUND_TLS_KEY is set but KIZUNA_INBOUND_TLS_CERT is not"}},
		{"missing file", base("KIZUNA_INBOUND_TLS_CERT", filepath.Join(dir, "none.pem"), "KIZUNA_INBOUND_TLS_KEY", keyFile),
			[]string{"KIZUNA_INBOUND_TLS_CERT", filepath.Join(dir, "none.pem"), "no such file"}},
		{"not a certificate", base("KIZUNA_INBOUND_TLS_CERT", garbage, "KIZUNA_INBOUND_TLS_KEY", keyFile),
			[]string{garbage, keyFile, "PEM"}},
		{"switched", base("KIZUNA_INBOUND_TLS_CERT", keyFile, "KIZUNA_INBOUND_TLS_KEY", certFile),
			[]string{keyFile, certFile}},
	} {
		code, _, errOut := runApp(t, tc.env, "inbound")
		if code != 2 {
			t.Errorf("%s: exit %d, want 2; stderr %q", tc.name, code, errOut)
		}
		for _, w := range tc.want {
			if !strings.Contains(errOut, w) {
				t.Errorf("%s: stderr %q does not say %q", tc.name, errOut, w)
			}
		}
		if strings.Contains(errOut, keyBody) || strings.Contains(errOut, "PRIVATE KEY-----") {
			t.Errorf("%s: stderr holds the key: %q", tc.name, errOut)
		}
	}
}

// The real binary with a certificate offers STARTTLS: a sender that checks
// the certificate delivers a message over TLS and it is stored.
func TestInboundBinarySTARTTLS(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	env := map[string]string{"KIZUNA_DATABASE_URL": db.URL, "KIZUNA_SECRET": testSecret,
		"KIZUNA_INBOUND_LISTEN": "smtp://" + addr, "KIZUNA_INBOUND_ADDRESS": "reply@in.example.co.jp",
		"KIZUNA_INBOUND_TLS_CERT": certFile, "KIZUNA_INBOUND_TLS_KEY": keyFile}
	p := testbin.Start(t, testbin.Options{Name: "inbound-tls", Args: []string{"inbound"}, Vars: env})
	p.WaitOutput(t, "inbound listener ready", 20*time.Second)

	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.StartTLS(&tls.Config{RootCAs: pool, ServerName: "in.example.co.jp"}); err != nil {
		t.Fatalf("STARTTLS: %v\n%s", err, p.Output())
	}
	if st, _ := c.TLSConnectionState(); st.Version < tls.VersionTLS12 {
		t.Errorf("TLS version %x", st.Version)
	}
	msg := "From: yamada@example.jp\r\nTo: reply+x@in.example.co.jp\r\nSubject: tls\r\nMessage-ID: <tls1@example.jp>\r\n\r\nhello\r\n"
	if err := c.Mail("yamada@example.jp"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("reply+x@in.example.co.jp"); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(msg))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM inbound_messages WHERE message_id = 'tls1@example.jp'`); err != nil || n != 1 {
		t.Errorf("%d stored (%v), want 1", n, err)
	}
	if code, _ := p.Terminate(t, 15*time.Second); code != 0 {
		t.Errorf("SIGTERM: exit %d\n%s", code, p.Output())
	}
}
