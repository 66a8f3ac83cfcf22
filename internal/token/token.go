// Package token signs and verifies the short tokens Kizuna puts into links and
// addresses (/o, /c, /u, /r URLs; reply+TOKEN@ and reply+b.TOKEN@ addresses).
//
// A token is a small binary payload — format version, purpose, delivery ID
// and, for clicks, the link's index and target URL — followed by a truncated
// HMAC-SHA256 (128 bits) keyed with a key derived from KIZUNA_SECRET. The
// purpose is inside the MAC, so a token minted for one purpose never verifies
// for another. Click tokens embed their target URL: the /c/ handler needs
// nothing but the token to redirect, and a forged target cannot be signed.
//
// URL tokens use unpadded base64url. Address tokens (reply, bounce and the
// mailto unsubscribe) use unpadded lower-case base32, because mail systems may
// change the case of an address's local part, which must also stay within 64
// octets (RFC 5321 §4.5.3.1.1).
package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
)

// ErrInvalid is returned for every token that does not verify: malformed,
// altered, signed with another secret or for another purpose. Callers treat
// all of these the same (a 404, an unmatched reply), so the error says no more.
var ErrInvalid = errors.New("invalid token")

// Purpose says what a token may be used for.
type Purpose byte

// The purposes of tokens. Values are part of the signed payload: never
// renumber them.
const (
	Open        Purpose = 1 // GET /o/TOKEN, the open pixel
	Click       Purpose = 2 // GET /c/TOKEN, a tracked link; carries Link and URL
	Unsubscribe Purpose = 3 // /u/TOKEN and the mailto: reply+u.TOKEN@ unsubscribe
	RSVP        Purpose = 4 // /r/TOKEN?a=yes|no|maybe; the answer is not signed
	Reply       Purpose = 5 // Reply-To reply+TOKEN@
	Bounce      Purpose = 6 // VERP envelope sender reply+b.TOKEN@
	MessageID   Purpose = 7 // keys Signer.Digest in a Message-ID; never a token
)

// String names the purpose.
func (p Purpose) String() string {
	switch p {
	case Open:
		return "open"
	case Click:
		return "click"
	case Unsubscribe:
		return "unsubscribe"
	case RSVP:
		return "rsvp"
	case Reply:
		return "reply"
	case Bounce:
		return "bounce"
	case MessageID:
		return "message-id"
	}
	return fmt.Sprintf("purpose(%d)", byte(p))
}

// Claims is what a token binds.
type Claims struct {
	Purpose    Purpose
	DeliveryID int64 // 0 for previews and test sends: no delivery row exists
	// Link is the 0-based index of the link in the rendered body (Click only).
	Link int
	// URL is the redirect target (Click only).
	URL string
}

const (
	version = 1
	macLen  = 16 // bytes of HMAC-SHA256 kept: 128 bits
	// maxPayload bounds what Verify decodes, so hostile input costs little.
	maxPayload = 4096
)

var (
	urlEncoding  = base64.RawURLEncoding
	addrEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)
)

// Signer signs and verifies tokens with one secret. It is safe for
// concurrent use.
type Signer struct {
	pool sync.Pool // of hash.Hash (keyed HMAC), reset between uses
}

// New returns a Signer keyed from secret (KIZUNA_SECRET). The HMAC key is
// derived from the secret so that the same secret used elsewhere never
// produces interchangeable MACs.
func New(secret []byte) *Signer {
	kdf := hmac.New(sha256.New, secret)
	kdf.Write([]byte("kizuna token key v1"))
	key := kdf.Sum(nil)
	s := &Signer{}
	s.pool.New = func() any { return hmac.New(sha256.New, key) }
	return s
}

// Sign returns the URL-safe form of a token for c.
func (s *Signer) Sign(c Claims) string {
	var buf [128]byte
	b := s.seal(buf[:0], c)
	return urlEncoding.EncodeToString(b)
}

// SignAddress returns the form of a token for an address local part:
// lower-case base32, safe when mail systems fold case.
func (s *Signer) SignAddress(c Claims) string {
	var buf [128]byte
	b := s.seal(buf[:0], c)
	return addrEncoding.EncodeToString(b)
}

// AppendSign appends the URL-safe form of a token for c to dst; the render
// hot path uses it to avoid allocations.
func (s *Signer) AppendSign(dst []byte, c Claims) []byte {
	var buf [128]byte
	b := s.seal(buf[:0], c)
	return urlEncoding.AppendEncode(dst, b)
}

// digestLen is the bytes of MAC a Digest keeps: 80 bits, 16 base32 characters.
const digestLen = 10

// Digest returns a short keyed digest of c: the first 80 bits of the MAC
// of c's token payload as 16 characters of lower-case base32 ([a-z2-7]).
// The same secret and claims always give the same digest, in any process;
// without the secret it cannot be predicted, so two installations never
// share one. It is not a token: Verify and VerifyAddress never accept it.
// Render keys Message-IDs with it (Purpose MessageID).
func (s *Signer) Digest(c Claims) string {
	var buf [128]byte
	b := s.seal(buf[:0], c)
	return addrEncoding.EncodeToString(b[len(b)-macLen : len(b)-macLen+digestLen])
}

// Verify checks a URL-form token and returns its claims when it is intact,
// made with this Signer's secret, and made for purpose p.
func (s *Signer) Verify(tok string, p Purpose) (Claims, error) {
	if len(tok) == 0 || len(tok) > urlEncoding.EncodedLen(maxPayload) {
		return Claims{}, ErrInvalid
	}
	raw, err := urlEncoding.DecodeString(tok)
	if err != nil {
		return Claims{}, ErrInvalid
	}
	// Base64 leaves slack bits in the last character; a token whose text
	// differs must not verify even if its bytes do.
	if urlEncoding.EncodeToString(raw) != tok {
		return Claims{}, ErrInvalid
	}
	return s.open(raw, p)
}

// VerifyAddress checks an address-form token (as found in reply+TOKEN@ or
// reply+b.TOKEN@), ignoring letter case.
func (s *Signer) VerifyAddress(tok string, p Purpose) (Claims, error) {
	if len(tok) == 0 || len(tok) > addrEncoding.EncodedLen(maxPayload) {
		return Claims{}, ErrInvalid
	}
	tok = strings.ToLower(tok)
	raw, err := addrEncoding.DecodeString(tok)
	if err != nil {
		return Claims{}, ErrInvalid
	}
	if addrEncoding.EncodeToString(raw) != tok {
		return Claims{}, ErrInvalid
	}
	return s.open(raw, p)
}

// seal appends payload and MAC to dst.
func (s *Signer) seal(dst []byte, c Claims) []byte {
	start := len(dst)
	dst = append(dst, version, byte(c.Purpose))
	dst = binary.AppendUvarint(dst, uint64(c.DeliveryID))
	if c.Purpose == Click {
		dst = binary.AppendUvarint(dst, uint64(c.Link))
		dst = append(dst, c.URL...)
	}
	return s.mac(dst, dst[start:])
}

// mac appends the truncated MAC of payload to dst.
func (s *Signer) mac(dst, payload []byte) []byte {
	h := s.pool.Get().(hash.Hash)
	h.Reset()
	h.Write(payload)
	var sum [sha256.Size]byte
	full := h.Sum(sum[:0])
	s.pool.Put(h)
	return append(dst, full[:macLen]...)
}

// open checks the MAC and purpose of raw and decodes its claims.
func (s *Signer) open(raw []byte, p Purpose) (Claims, error) {
	if len(raw) < 2+1+macLen {
		return Claims{}, ErrInvalid
	}
	payload, got := raw[:len(raw)-macLen], raw[len(raw)-macLen:]
	var buf [macLen]byte
	want := s.mac(buf[:0], payload)
	if !hmac.Equal(got, want) {
		return Claims{}, ErrInvalid
	}
	// Only intact tokens reach the checks below, so their order leaks nothing.
	if payload[0] != version || Purpose(payload[1]) != p {
		return Claims{}, ErrInvalid
	}
	rest := payload[2:]
	id, n := binary.Uvarint(rest)
	if n <= 0 || id > 1<<62 {
		return Claims{}, ErrInvalid
	}
	rest = rest[n:]
	c := Claims{Purpose: p, DeliveryID: int64(id)}
	if p == Click {
		link, n := binary.Uvarint(rest)
		if n <= 0 || link > 1<<20 {
			return Claims{}, ErrInvalid
		}
		c.Link = int(link)
		c.URL = string(rest[n:])
		rest = nil
	}
	if len(rest) != 0 {
		return Claims{}, ErrInvalid
	}
	return c, nil
}

// ParseLocalPart reads the local part of an address Kizuna handed out under
// the inbound address whose own local part is base (e.g. "reply"):
// base+TOKEN is a reply, base+b.TOKEN a bounce (VERP), base+u.TOKEN a mailto
// unsubscribe. Case is ignored. It returns the purpose and the token to pass
// to VerifyAddress; ok is false for any other address.
func ParseLocalPart(local, base string) (p Purpose, tok string, ok bool) {
	rest, found := cutPrefixFold(local, base+"+")
	if !found || rest == "" {
		return 0, "", false
	}
	if t, found := cutPrefixFold(rest, "b."); found {
		return Bounce, t, t != ""
	}
	if t, found := cutPrefixFold(rest, "u."); found {
		return Unsubscribe, t, t != ""
	}
	return Reply, rest, true
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}
