package inbound

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	netsmtp "net/smtp"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// testCA is a certificate authority made for one test, and the pool that
// trusts it.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Kizuna test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue makes a server certificate for in.example.co.jp with the given
// serial number, signed by the CA, and returns it and its key as PEM.
func (ca *testCA) issue(t *testing.T, serial int64) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "in.example.co.jp"},
		DNSNames:  []string{"in.example.co.jp"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
}

// writeFile writes data to name and sets its modification time to mod, so
// that a rewrite is seen as a change whatever the file system's clock
// resolution.
func writeFile(t *testing.T, name string, data []byte, mod time.Time) {
	t.Helper()
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(name, mod, mod); err != nil {
		t.Fatal(err)
	}
}

// clientTLS trusts only the test CA, as a sender checking the MX's
// certificate would (RFC 7672 without DANE: the name and the chain).
func (ca *testCA) clientTLS() *tls.Config {
	return &tls.Config{RootCAs: ca.pool, ServerName: "in.example.co.jp"}
}

// certFilesFor writes a first certificate (serial 1) and loads it.
func certFilesFor(t *testing.T, ca *testCA, log *slog.Logger) (cf *CertFiles, certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "privkey.pem")
	c, k := ca.issue(t, 1)
	mod := time.Now().Add(-time.Hour)
	writeFile(t, certFile, c, mod)
	writeFile(t, keyFile, k, mod)
	cf, err := LoadCertFiles(certFile, keyFile, log)
	if err != nil {
		t.Fatal(err)
	}
	return cf, certFile, keyFile
}

// A sender that checks the certificate (net/smtp with a pool holding only
// the test CA) delivers a message over STARTTLS: TLS 1.2 or later, the
// configured certificate, and the message stored with its envelope. The
// LMTP endpoint on TCP offers STARTTLS too.
func TestSTARTTLSDeliveryStored(t *testing.T) {
	t.Parallel()
	p, db := newProcessor(t, 0)
	ca := newTestCA(t)
	cf, _, _ := certFilesFor(t, ca, nil)
	addr, lmtpAddr := startListener(t, p, ListenerOptions{TLS: cf.TLSConfig()})

	c, err := netsmtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("mx.example.jp"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Fatal("STARTTLS not offered")
	}
	if err := c.StartTLS(ca.clientTLS()); err != nil {
		t.Fatalf("STARTTLS with the test CA: %v", err)
	}
	state, ok := c.TLSConnectionState()
	if !ok || state.Version < tls.VersionTLS12 || len(state.PeerCertificates) == 0 ||
		state.PeerCertificates[0].SerialNumber.Int64() != 1 {
		t.Fatalf("TLS state: ok=%v version=%x", ok, state.Version)
	}
	if err := c.Mail("taro@example.jp"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("reply+tls@in.example.co.jp"); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write(testMessage(1, ""))
	if err := w.Close(); err != nil {
		t.Fatalf("DATA over TLS: %v", err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, "message_id = 'm1@example.jp' AND source = 'smtp' AND envelope_from = 'taro@example.jp' AND envelope_to = '{reply+tls@in.example.co.jp}'"); n != 1 {
		t.Fatalf("%d messages stored after STARTTLS delivery, want 1", n)
	}

	// TLS 1.1 and older are refused at the handshake.
	old, err := netsmtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	cfg := ca.clientTLS()
	cfg.MaxVersion = tls.VersionTLS11
	if err := old.StartTLS(cfg); err == nil {
		t.Error("a TLS 1.1 handshake succeeded")
	}

	// LMTP over TCP offers it too.
	conn, err := net.DialTimeout("tcp", lmtpAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	lc := smtp.NewClientLMTP(conn)
	defer lc.Close()
	if ok, _ := lc.Extension("STARTTLS"); !ok {
		t.Error("LMTP over TCP does not offer STARTTLS")
	}
}

// Without a TLS configuration nothing is offered; an LMTP Unix socket
// never offers STARTTLS, even with one.
func TestSTARTTLSOnlyWhenConfigured(t *testing.T) {
	t.Parallel()
	p, _ := newProcessor(t, 0)
	addr, _ := startListener(t, p, ListenerOptions{})
	c, err := netsmtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("STARTTLS offered without a certificate")
	}
	if ok, _ := c.Extension("PIPELINING"); !ok {
		t.Error("no EHLO extensions read (the check above would pass vacuously)")
	}

	ca := newTestCA(t)
	cf, _, _ := certFilesFor(t, ca, nil)
	sock := filepath.Join(t.TempDir(), "lmtp.sock")
	l, err := p.NewListener(ListenerOptions{Endpoints: []Endpoint{{LMTP: true, Network: "unix", Address: sock}},
		Domain: "in.example.co.jp", TLS: cf.TLSConfig()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	defer func() { cancel(); <-done }()
	var conn net.Conn
	waitFor(t, "the socket", 5*time.Second, func() bool { conn, err = net.Dial("unix", sock); return err == nil })
	lc := smtp.NewClientLMTP(conn)
	defer lc.Close()
	if ok, _ := lc.Extension("STARTTLS"); ok {
		t.Error("STARTTLS offered on a Unix socket")
	}
	if ok, _ := lc.Extension("PIPELINING"); !ok {
		t.Error("no LHLO extensions read")
	}
}

// servedSerial makes a STARTTLS handshake and returns the serial number of
// the certificate the listener presented.
func servedSerial(t *testing.T, addr string, ca *testCA) int64 {
	t.Helper()
	c, err := netsmtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.StartTLS(ca.clientTLS()); err != nil {
		t.Fatalf("STARTTLS: %v", err)
	}
	state, _ := c.TLSConnectionState()
	c.Quit()
	return state.PeerCertificates[0].SerialNumber.Int64()
}

// A certificate renewed in place is served at the next handshake, without
// a restart. Files that cannot be used (a broken certificate, a new key
// before its certificate) leave the previous certificate in service and
// are logged once; the pair completed is then served.
func TestRenewedCertificateServed(t *testing.T) {
	t.Parallel()
	p, _ := newProcessor(t, 0)
	ca := newTestCA(t)
	log := &safeBuffer{}
	cf, certFile, keyFile := certFilesFor(t, ca, slog.New(slog.NewTextHandler(log, nil)))
	addr, _ := startListener(t, p, ListenerOptions{TLS: cf.TLSConfig()})

	if s := servedSerial(t, addr, ca); s != 1 {
		t.Fatalf("serial %d served, want 1", s)
	}
	if s := servedSerial(t, addr, ca); s != 1 || strings.Contains(log.String(), "reloaded") {
		t.Fatalf("unchanged files: serial %d, log %s", s, log.String())
	}

	// Renewal: both files rewritten in place.
	mod := time.Now().Add(-30 * time.Minute)
	c2, k2 := ca.issue(t, 2)
	writeFile(t, certFile, c2, mod)
	writeFile(t, keyFile, k2, mod)
	if s := servedSerial(t, addr, ca); s != 2 {
		t.Fatalf("after renewal: serial %d served, want 2", s)
	}
	if !strings.Contains(log.String(), "certificate reloaded") {
		t.Errorf("the reload is not logged: %s", log.String())
	}

	// A renewal half done: the new key is written, its certificate not yet.
	c3, k3 := ca.issue(t, 3)
	writeFile(t, keyFile, k3, mod.Add(time.Minute))
	for range 2 {
		if s := servedSerial(t, addr, ca); s != 2 {
			t.Fatalf("with a key not matching the certificate: serial %d served, want 2 still", s)
		}
	}
	if n := strings.Count(log.String(), "cannot be used"); n != 1 {
		t.Errorf("the unusable files logged %d times over two handshakes, want once:\n%s", n, log.String())
	}
	if strings.Contains(log.String(), strings.Split(string(k3), "\n")[1]) {
		t.Error("the log holds the private key")
	}
	// Broken certificate file: still the previous one.
	writeFile(t, certFile, []byte("not a certificate\n"), mod.Add(2*time.Minute))
	if s := servedSerial(t, addr, ca); s != 2 {
		t.Fatalf("with a broken certificate file: serial %d served, want 2 still", s)
	}
	// The certificate arrives: the pair is whole again.
	writeFile(t, certFile, c3, mod.Add(3*time.Minute))
	if s := servedSerial(t, addr, ca); s != 3 {
		t.Fatalf("after the certificate arrived: serial %d served, want 3", s)
	}
}

// LoadCertFiles refuses a missing file, a non-PEM file and a key that is
// not the certificate's; each error names the file(s) and never holds the
// key.
func TestLoadCertFilesErrors(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	dir := t.TempDir()
	c1, k1 := ca.issue(t, 1)
	_, k2 := ca.issue(t, 2)
	now := time.Now()
	certFile, keyFile, otherKey, garbage := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"),
		filepath.Join(dir, "other.pem"), filepath.Join(dir, "garbage.pem")
	writeFile(t, certFile, c1, now)
	writeFile(t, keyFile, k1, now)
	writeFile(t, otherKey, k2, now)
	writeFile(t, garbage, []byte("hello\n"), now)
	keyBody := strings.Split(string(k1), "\n")[1]

	for _, tc := range []struct {
		name, cert, key string
		want            []string
	}{
		{"missing certificate", filepath.Join(dir, "none.pem"), keyFile, []string{"certificate file " + filepath.Join(dir, "none.pem"), "no such file"}},
		{"missing key", certFile, filepath.Join(dir, "nokey.pem"), []string{"key file " + filepath.Join(dir, "nokey.pem"), "no such file"}},
		{"not PEM", garbage, keyFile, []string{garbage, keyFile, "PEM"}},
		{"switched", keyFile, certFile, []string{keyFile, certFile, "switched"}},
		{"another key", certFile, otherKey, []string{certFile, otherKey, "does not match"}},
	} {
		_, err := LoadCertFiles(tc.cert, tc.key, nil)
		if err == nil {
			t.Errorf("%s: loaded", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", tc.name, err, w)
			}
		}
		if strings.Contains(err.Error(), keyBody) || strings.Contains(err.Error(), "PRIVATE KEY-----") {
			t.Errorf("%s: the error holds the key: %q", tc.name, err)
		}
	}
	if _, err := LoadCertFiles(certFile, keyFile, nil); err != nil {
		t.Errorf("the good pair: %v", err)
	}
}

// A BDAT chunk cut short by the connection's end after STARTTLS is not a
// message either: the cut is seen under the TLS layer.
func TestBDATCutShortOverTLSIsNotStored(t *testing.T) {
	t.Parallel()
	p, db := newProcessor(t, 0)
	ca := newTestCA(t)
	cf, _, _ := certFilesFor(t, ca, nil)
	log := &safeBuffer{}
	addr, _ := startListener(t, p, ListenerOptions{TLS: cf.TLSConfig(),
		Log: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))})

	startTLS := func() *rawSMTP {
		c := dialRaw(t, addr)
		c.cmd("EHLO mx.example.jp\r\n")
		if r := c.cmd("STARTTLS\r\n"); !strings.HasPrefix(r, "220") {
			t.Fatalf("STARTTLS: %s", r)
		}
		tc := tls.Client(c.conn, ca.clientTLS())
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		c.conn, c.r = tc, bufio.NewReader(tc)
		c.cmd("EHLO mx.example.jp\r\n")
		c.cmd("MAIL FROM:<a@example.jp>\r\n")
		c.cmd("RCPT TO:<reply@in.example.co.jp>\r\n")
		return c
	}
	part := "From: a@example.jp\r\nSubject: cut\r\n\r\nThis is only part"
	c := startTLS()
	raw := c.conn.(*tls.Conn).NetConn()
	c.write("BDAT 500 LAST\r\n" + part)
	raw.Close() // the TCP connection ends, no TLS close_notify

	waitFor(t, "the listener to see the cut", 10*time.Second, func() bool {
		return strings.Contains(log.String(), "ended before the message did") || count(t, db, "true") > 0
	})
	time.Sleep(200 * time.Millisecond)
	if n := count(t, db, "true"); n != 0 {
		t.Fatalf("%d message(s) stored from a cut BDAT transfer over TLS, want 0", n)
	}
	c = startTLS()
	if r := c.cmd("BDAT 500 LAST\r\n" + part + strings.Repeat("x", 500-len(part))); !strings.HasPrefix(r, "250") {
		t.Fatalf("whole BDAT over TLS: %s", r)
	}
	if n := count(t, db, "true"); n != 1 {
		t.Errorf("%d messages stored, want the whole one", n)
	}
}
