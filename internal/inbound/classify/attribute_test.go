package classify

import (
	"strconv"
	"strings"
	"testing"

	"github.com/kizuna-alumni/kizuna/internal/token"
)

func TestAttribute(t *testing.T) {
	s := token.New([]byte("attribute-test-secret-0123456789abcdef"))
	other := token.New([]byte("another-installation-secret-0123456789"))
	const inbound = "reply@in.example.co.jp"
	mid := func(s *token.Signer, d int64) string {
		return "d" + strconv.FormatInt(d, 10) + ".3." + s.Digest(token.Claims{Purpose: token.MessageID, DeliveryID: d}) + "@alumni.example.co.jp"
	}
	addr := func(sep string, p token.Purpose, d int64) string {
		return "reply+" + sep + s.SignAddress(token.Claims{Purpose: p, DeliveryID: d}) + "@in.example.co.jp"
	}
	cases := []struct {
		name     string
		r        Result
		envelope []string
		want     int64
		via      string
	}{
		{"VERP bounce address", Result{}, []string{addr("b.", token.Bounce, 11)}, 11, "envelope:bounce"},
		{"mailto unsubscribe, case folded by a mail system", Result{}, []string{strings.ToUpper(addr("u.", token.Unsubscribe, 12))}, 12, "envelope:unsubscribe"},
		{"mailto unsubscribe", Result{}, []string{addr("u.", token.Unsubscribe, 12)}, 12, "envelope:unsubscribe"},
		{"Reply-To address in To", Result{Addresses: []string{"alumni@example.co.jp", addr("", token.Reply, 13)}}, nil, 13, "address:reply"},
		{"a reply token under the bounce form", Result{}, []string{"reply+b." + s.SignAddress(token.Claims{Purpose: token.Reply, DeliveryID: 14}) + "@in.example.co.jp"}, 0, ""},
		{"In-Reply-To", Result{InReplyTo: mid(s, 15)}, nil, 15, ViaInReplyTo},
		{"References, newest first", Result{References: []string{mid(s, 16), mid(s, 17)}}, nil, 17, ViaReferences},
		{"returned message", Result{OriginalMessageID: mid(s, 18)}, nil, 18, ViaOriginalMessageID},
		{"another installation's digest", Result{InReplyTo: mid(other, 19)}, nil, 0, ""},
		{"a forged delivery number", Result{InReplyTo: "d20" + mid(s, 19)[3:]}, nil, 0, ""},
		{"a stranger's message", Result{InReplyTo: "CAF=9xq2Z8@mail.gmail.com"}, nil, 0, ""},
	}
	for _, c := range cases {
		got, via := Attribute(c.r, c.envelope, inbound, s)
		if got != c.want || via != c.via {
			t.Errorf("%s: got %d %q, want %d %q", c.name, got, via, c.want, c.via)
		}
	}
	if d, _ := Attribute(Result{InReplyTo: mid(s, 15)}, nil, inbound, nil); d != 0 {
		t.Errorf("nil signer attributed %d", d)
	}
	if d, _ := Attribute(Result{}, []string{addr("b.", token.Bounce, 11)}, "", s); d != 0 {
		t.Errorf("no inbound address, yet the envelope attributed %d", d)
	}
}

func TestForUnsubscribeAddress(t *testing.T) {
	for class, want := range map[Class]Class{
		HumanReply: UnsubscribeRequest, AutoReply: UnsubscribeRequest, CalendarReply: UnsubscribeRequest,
		Bounce: Bounce, Delayed: Delayed, FeedbackReport: FeedbackReport,
	} {
		r := Result{Class: class, Calendar: &Calendar{}}
		ForUnsubscribeAddress(&r)
		if r.Class != want {
			t.Errorf("%s became %s, want %s", class, r.Class, want)
		}
	}
}
