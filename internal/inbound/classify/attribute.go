package classify

import (
	"crypto/subtle"
	"strconv"
	"strings"

	"github.com/kizuna-alumni/kizuna/internal/token"
)

// How Attribute found a message's delivery (for logs and JSON).
const (
	ViaEnvelope          = "envelope"            // the envelope recipient: reply+TOKEN@, reply+b.TOKEN@ or reply+u.TOKEN@
	ViaAddress           = "address"             // the same forms in To, Cc, Delivered-To, X-Original-To
	ViaInReplyTo         = "in_reply_to"         // our Message-ID in In-Reply-To
	ViaReferences        = "references"          // our Message-ID in References
	ViaOriginalMessageID = "original_message_id" // our Message-ID inside a returned bounce or report
)

// Attribute finds the delivery a classified message answers, or 0. It
// tries, in order: the envelope recipients, then the message's own
// addresses (r.Addresses), in the forms Kizuna hands out under
// inboundAddress (reply+TOKEN@ for replies, reply+b.TOKEN@ for bounces,
// reply+u.TOKEN@ for mailto unsubscribes; token.ParseLocalPart, the token
// verified with s for its purpose); then Kizuna's Message-ID form
// d{delivery}.{run}.{digest}@domain in In-Reply-To, References (newest
// first) and r.OriginalMessageID, its digest verified with s
// (token.MessageID). A token or digest that does not verify is ignored,
// so mail cannot be attributed to a delivery it guesses. via names what
// matched (Via… constants, with the token's purpose after a colon for
// addresses, e.g. "envelope:bounce"); "" with 0. A nil s finds nothing;
// an empty inboundAddress skips the addresses.
func Attribute(r Result, envelopeTo []string, inboundAddress string, s *token.Signer) (deliveryID int64, via string) {
	if s == nil {
		return 0, ""
	}
	if base, _, ok := strings.Cut(strings.TrimSpace(inboundAddress), "@"); ok && base != "" {
		for _, set := range []struct {
			via   string
			addrs []string
		}{{ViaEnvelope, envelopeTo}, {ViaAddress, r.Addresses}} {
			for _, a := range set.addrs {
				if id, p := addressDelivery(a, base, s); id > 0 {
					return id, set.via + ":" + p.String()
				}
			}
		}
	}
	if id := messageIDDelivery(r.InReplyTo, s); id > 0 {
		return id, ViaInReplyTo
	}
	for i := len(r.References) - 1; i >= 0; i-- {
		if id := messageIDDelivery(r.References[i], s); id > 0 {
			return id, ViaReferences
		}
	}
	if id := messageIDDelivery(r.OriginalMessageID, s); id > 0 {
		return id, ViaOriginalMessageID
	}
	return 0, ""
}

// addressDelivery reads base+TOKEN@…, base+b.TOKEN@… or base+u.TOKEN@….
func addressDelivery(addr, base string, s *token.Signer) (int64, token.Purpose) {
	addr = strings.Trim(strings.TrimSpace(addr), "<>")
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 {
		return 0, 0
	}
	p, tok, ok := token.ParseLocalPart(addr[:at], base)
	if !ok {
		return 0, 0
	}
	c, err := s.VerifyAddress(tok, p)
	if err != nil || c.DeliveryID <= 0 {
		return 0, 0
	}
	return c.DeliveryID, p
}

// messageIDDelivery reads d{delivery}.{run}.{digest}@domain (the form
// internal/render gives every message) and returns the delivery when the
// digest is the one s makes for it.
func messageIDDelivery(id string, s *token.Signer) int64 {
	local, _, ok := strings.Cut(strings.Trim(strings.TrimSpace(id), "<>"), "@")
	if !ok || len(local) < 2 || local[0] != 'd' {
		return 0
	}
	fields := strings.Split(local[1:], ".")
	if len(fields) != 3 {
		return 0
	}
	d, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil || d <= 0 || fields[0][0] == '+' {
		return 0
	}
	if _, err := strconv.ParseUint(fields[1], 10, 32); err != nil {
		return 0
	}
	want := s.Digest(token.Claims{Purpose: token.MessageID, DeliveryID: d})
	if subtle.ConstantTimeCompare([]byte(strings.ToLower(fields[2])), []byte(want)) != 1 {
		return 0
	}
	return d
}

// ForUnsubscribeAddress reclassifies a message that arrived at the
// List-Unsubscribe mailto address (reply+u.TOKEN@, RFC 2369 §3.2; the
// caller knows it from the envelope or from Attribute's via): whatever
// its subject and body, it is a request to stop — unless it is a bounce,
// a delay notice or a feedback report, which keep their class.
func ForUnsubscribeAddress(r *Result) {
	switch r.Class {
	case Bounce, Delayed, FeedbackReport:
		return
	}
	r.Class = UnsubscribeRequest
	r.Calendar = nil
}
