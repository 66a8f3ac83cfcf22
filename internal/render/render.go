package render

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/kizuna-alumni/kizuna/internal/address"
	"github.com/kizuna-alumni/kizuna/internal/token"
	"github.com/kizuna-alumni/kizuna/internal/tz"
)

// state is one recipient's rendering in progress.
type state struct {
	lt      *localeTemplate
	r       Recipient
	v       values
	loc     *time.Location
	now     time.Time
	subject string
}

// buffers are the pooled scratch space of one Render.
type buffers struct {
	html, text, ics, out []byte
}

// locale picks the compiled locale for a recipient.
func (p *Prepared) locale(want string) *localeTemplate {
	if lt, ok := p.locales[want]; ok {
		return lt
	}
	if lt, ok := p.locales["ja"]; ok {
		return lt
	}
	return p.locales["en"]
}

// zone returns the recipient's time zone, Asia/Tokyo when unset or unknown.
func (p *Prepared) zone(name string) *time.Location { return tz.Load(name) }

// begin computes every value of r.
func (p *Prepared) begin(r Recipient) *state {
	lt := p.locale(r.Locale)
	s := &state{lt: lt, r: r, loc: p.zone(r.TimeZone), now: p.opts.Now()}
	v := make(values, int(fLink)+len(lt.links))
	copy(v, p.static)
	loc := lt.locale
	v[fFamilyName], v[fGivenName], v[fDepartment], v[fEmail] = r.FamilyName, r.GivenName, r.Department, r.Email
	full := fullName(r.FamilyName, r.GivenName, loc)
	v[fFullName] = full
	v[fJoinedOn], v[fLeftOn] = formatDate(r.JoinedOn, loc), formatDate(r.LeftOn, loc)
	v[fYearsSinceLeft] = yearsSince(r.LeftOn, s.now.In(s.loc))
	if e := p.c.Event; e != nil {
		v[fEventStart] = formatEventStartAbroad(e.StartsAt, loc, s.loc, p.eventZone)
		v[fEventEnd] = formatEventEndAbroad(e.StartsAt, e.EndsAt, loc, s.loc, p.eventZone)
	}
	// An empty value takes the campaign's fallback, so that no message
	// reads "様 アルムナイ通信" (SPEC.md, Campaign files). The greeting
	// and the To header keep the real name: they have their own wording
	// for a nameless recipient.
	for f := fFamilyName; f <= fYearsSinceLeft; f++ {
		if lt.has[f] && isEmpty(v[f]) {
			v[f] = lt.fallback[f]
		}
	}
	switch {
	case full == "":
		v[fGreeting] = lt.str.GroupGreeting
	case loc == "ja":
		v[fGreeting] = full + lt.str.Honorific
	default:
		v[fGreeting] = lt.str.GreetingPrefix + full + lt.str.GreetingSuffix
	}
	base, signer, id := p.opts.BaseURL, p.opts.Signer, r.DeliveryID
	v[fUnsubscribe] = base + "/u/" + signer.Sign(token.Claims{Purpose: token.Unsubscribe, DeliveryID: id})
	if p.opens {
		v[fOpen] = base + "/o/" + signer.Sign(token.Claims{Purpose: token.Open, DeliveryID: id})
	}
	if p.c.Event != nil {
		v[fRSVP] = base + "/r/" + signer.Sign(token.Claims{Purpose: token.RSVP, DeliveryID: id})
	}
	var scratch []byte
	for i, l := range lt.links {
		scratch = l.appendTo(scratch[:0], v)
		target := string(scratch)
		if p.clicks {
			target = base + "/c/" + signer.Sign(token.Claims{Purpose: token.Click, DeliveryID: id, Link: i, URL: target})
		}
		v[fLink+field(i)] = target
	}
	subj := string(lt.subject.appendTo(nil, v))
	if p.opts.Test {
		subj = lt.str.TestPrefix + subj
	}
	s.subject = cleanHeader(subj)
	v[fSubject] = s.subject
	s.v = v
	return s
}

// isEmpty reports whether a recipient's value counts as empty: nothing
// but ASCII and full-width spaces (what the roster import trims). The
// count of empty values (runs.EmptyFields) uses the same rule in SQL.
func isEmpty(v string) bool { return strings.Trim(v, " \u3000") == "" }

// RenderParts renders r's subject, HTML, plain text and the calendar
// object the message carries (ICS; "" for none).
func (p *Prepared) RenderParts(r Recipient) Parts {
	s := p.begin(r)
	pt := Parts{
		Subject: s.subject,
		HTML:    string(s.lt.html.appendTo(nil, s.v)),
		Text:    string(s.lt.text.appendTo(nil, s.v)),
	}
	if p.cal != nil {
		pt.ICS = string(p.appendICS(nil, s, p.cal))
	}
	return pt
}

// Render renders r's complete message, in newly allocated Data.
func (p *Prepared) Render(r Recipient) (*Message, error) { return p.RenderAppend(nil, r) }

// RenderAppend is Render with the message written over dst (Data is
// dst[:0] with the message appended, so it shares dst's array when dst
// has room): a sender that keeps one buffer per goroutine and hands it
// back each time allocates nothing per message for the message itself.
// Data is valid until dst is used again. A nil dst gets an array of the
// message's exact size. A DKIM-signed message is always newly allocated.
func (p *Prepared) RenderAppend(dst []byte, r Recipient) (*Message, error) {
	if r.SendTo == "" {
		r.SendTo = r.Email
	}
	// Addresses must be ASCII: messages are sent without SMTPUTF8 (RFC 6531).
	// A legacy carrier address such as taro..yamada@docomo.ne.jp is valid
	// once its local part is quoted (RFC 5321 §4.1.2); it may be given
	// either way and is kept unquoted, as the roster stores it.
	a, err := mail.ParseAddress(address.Quote(r.SendTo))
	if err != nil || address.Quote(a.Address) != address.Quote(r.SendTo) || !isASCII(r.SendTo) {
		return nil, fmt.Errorf("render delivery %d: bad recipient address %q", r.DeliveryID, r.SendTo)
	}
	r.SendTo = a.Address
	s := p.begin(r)
	b, _ := p.bufs.Get().(*buffers)
	if b == nil {
		b = &buffers{}
	}
	defer p.bufs.Put(b)
	b.html = s.lt.html.appendTo(b.html[:0], s.v)
	b.text = s.lt.text.appendTo(b.text[:0], s.v)
	b.ics = b.ics[:0]
	if p.cal != nil {
		b.ics = p.appendICS(b.ics, s, p.cal)
	}
	m := &Message{To: r.SendTo, MessageID: p.messageID(r.DeliveryID)}
	m.EnvelopeFrom = p.from.Address
	if p.inLocal != "" {
		m.EnvelopeFrom = p.inboundAddr("+b.", token.Bounce, r.DeliveryID)
	}
	out := b.out[:0]
	if dst != nil {
		out = dst[:0]
	}
	out, m.EightBit = p.appendMIME(out, s, b, m.MessageID)
	if dst == nil {
		b.out = out // the pooled buffer keeps its grown array
	}
	if p.dkim != nil {
		signed, err := p.dkim.sign(out)
		if err != nil {
			return nil, fmt.Errorf("render delivery %d: %w", r.DeliveryID, err)
		}
		m.Data = signed
		return m, nil
	}
	if dst == nil {
		out = append(make([]byte, 0, len(out)), out...)
	}
	m.Data = out
	return m, nil
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// messageID is d{delivery}.{run number}.{digest}@from-domain, derived from
// the delivery, not the attempt: every attempt, in any process, gives a
// delivery the same Message-ID, so a copy sent again after a crash can be
// folded with the first by receiving systems (RFC 5322 §3.6.4: the same
// message keeps its identifier). The digest is a keyed HMAC of the
// delivery ID (token.Signer.Digest), so two installations sending from
// the same domain never collide. A preview or test copy (delivery 0) is
// a new message each time: its digest part is random.
func (p *Prepared) messageID(delivery int64) string {
	var tag string
	if delivery == 0 {
		var rnd [10]byte
		rand.Read(rnd[:])
		tag = idEncoding.EncodeToString(rnd[:])
	} else {
		tag = p.opts.Signer.Digest(token.Claims{Purpose: token.MessageID, DeliveryID: delivery})
	}
	return "d" + strconv.FormatInt(delivery, 10) + "." + strconv.Itoa(p.opts.RunNumber) + "." + tag + "@" + p.fromDomain
}

// inboundAddr is local+sep+TOKEN@inbound-domain.
func (p *Prepared) inboundAddr(sep string, purpose token.Purpose, delivery int64) string {
	return p.inLocal + sep + p.opts.Signer.SignAddress(token.Claims{Purpose: purpose, DeliveryID: delivery}) + "@" + p.inDomain
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
