package classify

// TEMP stub of Classify (helper E writes the real one): it reads the
// headers and the first text/plain part and says HumanReply. The lead
// deletes this file when the classify branch is merged.

import (
	"bytes"
	"io"
	"strings"

	_ "github.com/emersion/go-message/charset" // ISO-2022-JP, Shift_JIS, EUC-JP
	"github.com/emersion/go-message/mail"
)

// Classify reads one raw message (TEMP stub).
func Classify(raw []byte) (Result, error) {
	r := Result{Class: HumanReply, Recipients: []Recipient{}}
	mr, err := mail.CreateReader(bytes.NewReader(raw))
	if mr == nil {
		return r, err
	}
	h := mr.Header
	r.MessageID, _ = h.MessageID()
	if ids, _ := h.MsgIDList("In-Reply-To"); len(ids) > 0 {
		r.InReplyTo = ids[0]
	}
	r.References, _ = h.MsgIDList("References")
	if from, _ := h.AddressList("From"); len(from) > 0 {
		r.From = strings.ToLower(from[0].Address)
	}
	r.Subject, _ = h.Subject()
	r.Date, _ = h.Date()
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		if ih, ok := p.Header.(*mail.InlineHeader); ok {
			ct, _, _ := ih.ContentType()
			if ct == "text/plain" || ct == "" {
				b, _ := io.ReadAll(io.LimitReader(p.Body, 64<<10))
				r.Text = string(b)
				break
			}
		}
	}
	return r, nil
}
