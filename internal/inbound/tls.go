package inbound

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"
)

// CertFiles is the certificate the SMTP listener offers with STARTTLS
// (RFC 3207), read from a PEM certificate file (the chain, leaf first) and
// a PEM private key file. Both files are read again at the first TLS
// handshake after either one's modification time or size changes, so a
// certificate renewed in place (certbot rewrites the files, or the
// symbolic links, under /etc/letsencrypt/live) is served without a
// restart. A renewed pair that cannot be used (unreadable, invalid, or a
// key written but not yet its certificate) is logged and the previous
// certificate stays in service; the next handshake tries again.
type CertFiles struct {
	certFile, keyFile string
	log               *slog.Logger

	mu       sync.Mutex
	cert     *tls.Certificate
	certSeen fileStamp // the files as they were when cert was read
	keySeen  fileStamp
	failed   [2]fileStamp // the files as they were at the last failed read (logged once)
}

// fileStamp is what tells that a file changed: its modification time and
// size (os.Stat, following symbolic links).
type fileStamp struct {
	mod  int64 // nanoseconds since 1970
	size int64
}

// LoadCertFiles reads the certificate and key files (PEM) once and returns
// the CertFiles that serves them. An error names the file that cannot be
// read or says why the pair is unusable (no PEM certificate, no private
// key, a key that is not the certificate's); it never holds the files'
// content. log (nil: slog.Default) receives the reloads.
func LoadCertFiles(certFile, keyFile string, log *slog.Logger) (*CertFiles, error) {
	if log == nil {
		log = slog.Default()
	}
	c := &CertFiles{certFile: certFile, keyFile: keyFile, log: log}
	cert, cs, ks, err := c.read()
	if err != nil {
		return nil, err
	}
	c.cert, c.certSeen, c.keySeen = cert, cs, ks
	if cert.Leaf != nil && time.Now().After(cert.Leaf.NotAfter) {
		log.Warn("inbound TLS: the certificate has expired; senders that check it will not use STARTTLS",
			"cert_file", certFile, "not_after", cert.Leaf.NotAfter)
	}
	return c, nil
}

// TLSConfig is the server configuration offering the files' certificate:
// TLS 1.2 or later (RFC 8996 deprecates 1.0 and 1.1; RFC 9325 §3.1.1), the
// certificate chosen by GetCertificate at each handshake.
func (c *CertFiles) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.GetCertificate}
}

// GetCertificate returns the certificate to present (tls.Config's
// GetCertificate): the one last read, after reading both files again when
// either changed since. It fails only when no certificate was ever read,
// which LoadCertFiles prevents.
func (c *CertFiles) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cs, cerr := stat(c.certFile)
	ks, kerr := stat(c.keyFile)
	changed := cerr != nil || kerr != nil || cs != c.certSeen || ks != c.keySeen
	if !changed || (cs == c.failed[0] && ks == c.failed[1]) {
		return c.cert, nil
	}
	cert, cs, ks, err := c.read()
	if err != nil {
		// Keep serving the certificate in hand; log each failing state of
		// the files once, not at every handshake.
		c.failed = [2]fileStamp{cs, ks}
		c.log.Warn("inbound TLS: the changed certificate files cannot be used; the previous certificate is still served", "err", err)
		return c.cert, nil
	}
	c.cert, c.certSeen, c.keySeen, c.failed = cert, cs, ks, [2]fileStamp{}
	attrs := []any{"cert_file", c.certFile}
	if cert.Leaf != nil {
		attrs = append(attrs, "subject", cert.Leaf.Subject.String(), "not_after", cert.Leaf.NotAfter)
	}
	c.log.Info("inbound TLS: certificate reloaded", attrs...)
	return c.cert, nil
}

// read reads both files and parses the pair; the stamps are taken before
// the reads, so a file rewritten during them is read again next time.
func (c *CertFiles) read() (*tls.Certificate, fileStamp, fileStamp, error) {
	cs, err := stat(c.certFile)
	if err != nil {
		return nil, cs, fileStamp{}, fileErr("certificate", c.certFile, err)
	}
	ks, err := stat(c.keyFile)
	if err != nil {
		return nil, cs, ks, fileErr("key", c.keyFile, err)
	}
	certPEM, err := os.ReadFile(c.certFile)
	if err != nil {
		return nil, cs, ks, fileErr("certificate", c.certFile, err)
	}
	keyPEM, err := os.ReadFile(c.keyFile)
	if err != nil {
		return nil, cs, ks, fileErr("key", c.keyFile, err)
	}
	// tls.X509KeyPair's errors describe the problem, never the bytes.
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, cs, ks, fmt.Errorf("TLS certificate %s with key %s: %v", c.certFile, c.keyFile, err)
	}
	return &cert, cs, ks, nil
}

func stat(name string) (fileStamp, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{mod: fi.ModTime().UnixNano(), size: fi.Size()}, nil
}

// fileErr names the file once: the *fs.PathError's own text repeats it.
func fileErr(what, name string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("TLS %s file %s cannot be read: %v", what, name, err)
}
