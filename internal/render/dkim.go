package render

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/emersion/go-msgauth/dkim"
)

// DKIM configures DKIM signing (RFC 6376).
type DKIM struct {
	Domain   string        // d=; empty signs as the campaign's From domain
	Selector string        // s=: the key is published at SELECTOR._domainkey.DOMAIN
	Key      crypto.Signer // *rsa.PrivateKey (≥ 1024 bits) or ed25519.PrivateKey
}

// minRSABits is the shortest RSA key a signer may use (RFC 8301 §3.2).
const minRSABits = 1024

// LoadDKIM reads the PEM private key in keyFile — RSA as PKCS#1 ("RSA
// PRIVATE KEY") or PKCS#8 ("PRIVATE KEY"), Ed25519 (RFC 8463) as PKCS#8 —
// for domain and selector. Errors name the file, never the key's bytes.
func LoadDKIM(domain, selector, keyFile string) (*DKIM, error) {
	pemBytes, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("dkim key: %w", err)
	}
	key, err := parseDKIMKey(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("dkim key %s: %w", keyFile, err)
	}
	return &DKIM{Domain: domain, Selector: selector, Key: key}, nil
}

// parseDKIMKey decodes the first PEM block of pemBytes into a signing key.
func parseDKIMKey(pemBytes []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key (want \"PRIVATE KEY\" or \"RSA PRIVATE KEY\")", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", block.Type, err)
	}
	return checkDKIMKey(key)
}

// checkDKIMKey accepts RSA keys of at least minRSABits and Ed25519 keys,
// the two algorithms DKIM defines (RFC 8301 §3.1, RFC 8463 §3).
func checkDKIMKey(key any) (crypto.Signer, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if n := k.N.BitLen(); n < minRSABits {
			return nil, fmt.Errorf("RSA key has %d bits; DKIM needs at least %d (RFC 8301 §3.2), 2048 recommended", n, minRSABits)
		}
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	default:
		return nil, fmt.Errorf("unsupported key type %T: DKIM signs with RSA or Ed25519", key)
	}
}

// dkimHeaders are signed (RFC 6376 §5.4.1); List-Unsubscribe and
// List-Unsubscribe-Post must be (RFC 8058 §4). A name listed but absent
// from a message is signed as absent (RFC 6376 §5.4), so a Reply-To added
// on the way breaks the signature.
var dkimHeaders = []string{"From", "To", "Subject", "Date", "Message-ID", "Reply-To",
	"List-Unsubscribe", "List-Unsubscribe-Post", "List-Id", "Feedback-ID",
	"MIME-Version", "Content-Type"}

// dkimSigner signs with go-msgauth, relaxed/relaxed canonicalisation
// (RFC 6376 §3.4.2, §3.4.4) and SHA-256. It is read-only after creation
// and safe for concurrent use.
type dkimSigner struct{ opts dkim.SignOptions }

func newDKIMSigner(d *DKIM) (*dkimSigner, error) {
	if d.Domain == "" || d.Selector == "" || d.Key == nil {
		return nil, errors.New("dkim: domain, selector and key are all required")
	}
	key, err := checkDKIMKey(d.Key)
	if err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	s := &dkimSigner{opts: dkim.SignOptions{
		Domain:                 d.Domain,
		Selector:               d.Selector,
		Signer:                 key,
		Hash:                   crypto.SHA256,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             dkimHeaders,
	}}
	// Check the options once, so that a bad configuration fails at Prepare.
	if _, err := s.sign([]byte("From: a@b\r\n\r\nx\r\n")); err != nil {
		return nil, err
	}
	return s, nil
}

// sign returns msg (a complete message with CRLF line ends) with a
// DKIM-Signature header field in front.
func (d *dkimSigner) sign(msg []byte) ([]byte, error) {
	if !bytes.Contains(msg, []byte("\r\n\r\n")) {
		return nil, errors.New("dkim: message has no body")
	}
	s, err := dkim.NewSigner(&d.opts)
	if err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	if _, err := s.Write(msg); err != nil {
		s.Close()
		return nil, fmt.Errorf("dkim sign: %w", err)
	}
	if err := s.Close(); err != nil {
		return nil, fmt.Errorf("dkim sign: %w", err)
	}
	sig := s.Signature()
	out := make([]byte, 0, len(sig)+len(msg))
	return append(append(out, sig...), msg...), nil
}
