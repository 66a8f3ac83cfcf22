package render

import (
	"crypto/rand"
	"crypto/rsa"
	"testing"
)

// testDKIM makes a throwaway RSA-2048 key.
func testDKIM(t testing.TB) *DKIM {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &DKIM{Domain: "example.co.jp", Selector: "kizuna", Key: key}
}
