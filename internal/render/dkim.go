package render

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"os"

	gomail "github.com/wneessen/go-mail"
)

// DKIM configures DKIM signing (RFC 6376).
type DKIM struct {
	Domain   string // d=
	Selector string // s=
	Key      crypto.Signer
}

// LoadDKIM reads a PEM private key (RSA PKCS#1/PKCS#8 or Ed25519) for
// domain and selector.
func LoadDKIM(domain, selector, keyFile string) (*DKIM, error) {
	pemBytes, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("dkim key: %w", err)
	}
	key, err := gomail.PrivKeyFromPEM(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("dkim key %s: %w", keyFile, err)
	}
	return &DKIM{Domain: domain, Selector: selector, Key: key}, nil
}

// dkimHeaders are signed; List-Unsubscribe and List-Unsubscribe-Post must
// be (RFC 8058 §4).
var dkimHeaders = []string{"From", "To", "Subject", "Date", "Message-ID", "Reply-To",
	"List-Unsubscribe", "List-Unsubscribe-Post", "List-Id", "Feedback-ID",
	"MIME-Version", "Content-Type"}

type dkimSigner struct{ s *gomail.DKIMSigner }

func newDKIMSigner(d *DKIM) (*dkimSigner, error) {
	if d.Domain == "" || d.Selector == "" || d.Key == nil {
		return nil, errors.New("dkim: domain, selector and key are all required")
	}
	s := gomail.NewDKIMSigner(d.Domain, d.Selector, d.Key)
	s.SignHeaders(dkimHeaders...)
	// The first Sign records the key's algorithm in the signer; doing it
	// here keeps later concurrent Signs read-only.
	if _, err := s.Sign([]byte("From: a@b\r\n"), []byte("x\r\n")); err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	return &dkimSigner{s: s}, nil
}

// sign returns msg with a DKIM-Signature header in front.
func (d *dkimSigner) sign(msg []byte) ([]byte, error) {
	i := bytes.Index(msg, []byte("\r\n\r\n"))
	if i < 0 {
		return nil, errors.New("dkim: message has no body")
	}
	sig, err := d.s.Sign(msg[:i+2], msg[i+4:])
	if err != nil {
		return nil, fmt.Errorf("dkim sign: %w", err)
	}
	out := make([]byte, 0, len(sig)+len(msg))
	return append(append(out, sig...), msg...), nil
}
