// Package render turns a campaign into each recipient's complete MIME
// message.
//
// Hermes (HTML templating plus a CSS inliner) costs about 1.6 ms a call, so
// Prepare runs it once per (campaign version, locale) with alphanumeric
// placeholder tokens where recipient values and per-recipient URLs go, and
// compiles the output into literal segments and slots, each slot tagged with
// the escaping of the context it sits in (HTML text or attribute, URL, plain
// text, header). The MIME skeleton is built once with go-mail the same way.
// Render then only writes segments and escaped values into a buffer and
// base64-encodes the bodies: tens of microseconds per recipient.
//
// A Prepared is immutable and safe for concurrent use; every Hermes instance
// is a local value of Prepare (Hermes writes into its receiver, so sharing
// one between goroutines races).
package render

import (
	"cmp"
	"crypto/rand"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/matcornic/hermes/v2"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/token"
	"github.com/kizuna-alumni/kizuna/templates"
)

// Options configure Prepare.
type Options struct {
	// BaseURL is KIZUNA_BASE_URL: the prefix of /o, /c, /u and /r links.
	BaseURL string
	// Signer signs the tokens in links and addresses (KIZUNA_SECRET).
	Signer *token.Signer
	// InboundAddress is KIZUNA_INBOUND_ADDRESS. When set, Reply-To becomes
	// reply+TOKEN@, the envelope sender reply+b.TOKEN@ (VERP), and
	// List-Unsubscribe gains a mailto: reply+u.TOKEN@ address.
	InboundAddress string
	// RunNumber is the run's number within its campaign, as `kizuna
	// campaign status` shows it (runs.Run.Number, 1, 2, …); it goes into
	// Message-ID and Feedback-ID. Previews and test sends have no run and
	// use 0.
	RunNumber int
	// Test renders a send-test copy: "[TEST] " subject, X-Kizuna-Test: 1,
	// no open pixel, links not rewritten.
	Test bool
	// DKIM, when set, signs every message; an empty Domain signs as the
	// campaign's From domain.
	DKIM *DKIM
	// Now is the clock (Date header, DTSTAMP, YearsSinceLeft); default time.Now.
	Now func() time.Time
	// Notice, when not NoticeInvitation (""), replaces the campaign's
	// subject and body by Kizuna's own wording of that notice (package
	// templates), showing the event's details; everything else (theme,
	// From, Reply-To, footer, unsubscribe, tracking, DKIM, fallbacks,
	// greeting) stays. It also chooses the calendar object the message
	// carries, if any (see Notices; a cancelled event's is always the
	// cancellation). Only event campaigns have notices:
	// Prepare refuses one for another campaign, and an unknown notice.
	Notice string
	// EightBitMIME says the relay offers 8BITMIME (RFC 6152): parts whose
	// lines stay short enough are then sent as they are (7bit or 8bit)
	// instead of quoted-printable or base64 (see Prepared's encodings).
	EightBitMIME bool

	// heavy skips the lightening step (tests compare both).
	heavy bool
}

// Recipient is one alumnus as a message addresses them.
type Recipient struct {
	DeliveryID int64 // 0 for previews and test sends
	Email      string
	FamilyName string
	GivenName  string
	Department string
	JoinedOn   time.Time // zero when unknown
	LeftOn     time.Time // zero when unknown
	Locale     string    // ja or en; a locale the campaign lacks falls back to ja, then en
	TimeZone   string    // IANA name; default Asia/Tokyo
	// SendTo, when set, receives the message instead of Email (send-test:
	// personalised as one alumnus, sent to another address).
	SendTo string
}

// Message is one rendered message.
type Message struct {
	EnvelopeFrom string // SMTP MAIL FROM
	To           string // SMTP RCPT TO
	MessageID    string // the Message-ID header without angle brackets
	Data         []byte // the complete message, CRLF line ends
	// EightBit says a body part is sent as 8bit: the relay must offer
	// 8BITMIME (RFC 6152), and MAIL FROM must say BODY=8BITMIME.
	EightBit bool
}

// Parts are a message's rendered contents, for previews.
type Parts struct {
	Subject, HTML, Text, ICS string
}

// Prepared is a campaign version compiled for per-recipient rendering.
type Prepared struct {
	c          *campaigns.Campaign
	opts       Options
	ph         *placeholders
	from       *mail.Address
	fromDomain string
	inLocal    string // inbound address local part, "" when unset
	inDomain   string
	opens      bool
	clicks     bool
	static     values
	locales    map[string]*localeTemplate
	dkim       *dkimSigner
	eventZone  *time.Location // the event's own zone (events only)
	cal        *calendar      // the calendar object of each message; nil for none
	bufs       sync.Pool
}

// localeTemplate is everything compiled for one locale.
type localeTemplate struct {
	locale  string
	str     templates.Strings
	subject *compiled
	html    *compiled
	text    *compiled
	links   []*compiled // link targets, by link index
	mime    *skeleton
	// enc is the transfer encoding of the text, HTML and calendar parts,
	// chosen once for the version (encoding.go).
	enc [3]transferEncoding
	// asIs describes the text and HTML templates of a part that goes as
	// it is, so that a copy is checked by its values only (nil: scanned).
	asIs [2]*asIsTemplate
	// fallback holds the campaign's fallback of each field in this locale
	// (campaigns.Campaign.Fallback); has says which fields have one.
	fallback values
	has      [numFields]bool
}

// ErrNoLocale is returned by Prepare for a campaign without any body.
var ErrNoLocale = errors.New("campaign has no body for any locale")

// Prepare compiles c for rendering with opts.
func Prepare(c *campaigns.Campaign, opts Options) (*Prepared, error) {
	if c == nil {
		return nil, errors.New("prepare: no campaign")
	}
	if opts.Signer == nil {
		return nil, fmt.Errorf("prepare campaign %s: no token signer (KIZUNA_SECRET)", c.ID)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.BaseURL = strings.TrimRight(opts.BaseURL, "/")
	if u, err := url.Parse(opts.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("prepare campaign %s: base URL %q is not an http(s) URL", c.ID, opts.BaseURL)
	}
	from, err := mail.ParseAddress(c.From)
	if err != nil {
		return nil, fmt.Errorf("prepare campaign %s: from %q: %w", c.ID, c.From, err)
	}
	p := &Prepared{c: c, opts: opts, from: from, opens: c.Tracking.Opens && !opts.Test, clicks: c.Tracking.Clicks && !opts.Test}
	if p.cal, err = calendarFor(opts.Notice, c.Event); err != nil {
		return nil, fmt.Errorf("prepare campaign %s: %w", c.ID, err)
	}
	if opts.Notice != NoticeInvitation && c.Event == nil {
		return nil, fmt.Errorf("prepare campaign %s: notice %q needs an event campaign (kind: event)", c.ID, opts.Notice)
	}
	p.fromDomain = from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	if opts.InboundAddress != "" {
		in, err := mail.ParseAddress(opts.InboundAddress)
		if err != nil {
			return nil, fmt.Errorf("prepare campaign %s: inbound address %q: %w", c.ID, opts.InboundAddress, err)
		}
		at := strings.LastIndexByte(in.Address, '@')
		p.inLocal, p.inDomain = in.Address[:at], in.Address[at+1:]
		// reply+b.TOKEN must fit the 64-octet local part (RFC 5321 §4.5.3.1.1).
		longest := opts.Signer.SignAddress(token.Claims{Purpose: token.Bounce, DeliveryID: 1 << 62})
		if n := len(p.inLocal) + len("+b.") + len(longest); n > 64 {
			return nil, fmt.Errorf("prepare campaign %s: inbound address %q: local part too long for reply tokens (%d octets > 64)", c.ID, opts.InboundAddress, n)
		}
	}
	if opts.DKIM != nil {
		d := *opts.DKIM
		if d.Domain == "" {
			d.Domain = p.fromDomain // sign as the From domain (DMARC alignment)
		}
		if p.dkim, err = newDKIMSigner(&d); err != nil {
			return nil, fmt.Errorf("prepare campaign %s: %w", c.ID, err)
		}
	}
	var nonce [6]byte
	rand.Read(nonce[:])
	for i := range nonce {
		nonce[i] = 'A' + nonce[i]%25 // A–Y: placeholders end in "ZK"
	}
	p.ph = newPlaceholders(string(nonce[:]))
	if c.Event != nil {
		p.eventZone = eventZone(c.Event.StartsAt, c.Schedule.Timezone)
	}
	if p.static, err = p.staticValues(); err != nil {
		return nil, fmt.Errorf("prepare campaign %s: %w", c.ID, err)
	}
	p.locales = make(map[string]*localeTemplate)
	for _, loc := range templates.Locales {
		body, ok := c.Template.Body[loc]
		if !ok {
			continue
		}
		lt, err := p.prepareLocale(loc, c.Subject[loc], body)
		if err != nil {
			return nil, fmt.Errorf("prepare campaign %s locale %s: %w", c.ID, loc, err)
		}
		p.locales[loc] = lt
	}
	if len(p.locales) == 0 {
		return nil, fmt.Errorf("prepare campaign %s: %w", c.ID, ErrNoLocale)
	}
	return p, nil
}

// staticValues are the fields that are the same for every recipient.
func (p *Prepared) staticValues() (values, error) {
	v := make(values, numFields)
	co := p.c.Company
	v[fCompanyName], v[fCompanyAddress], v[fCompanyContact] = co.Name, co.Address, co.Contact
	for _, u := range []struct {
		f    field
		name string
		val  string
	}{{fCompanyURL, "company url", co.URL}, {fPrivacyURL, "privacy_url", co.PrivacyURL}, {fLogo, "logo", co.Logo}} {
		if u.val != "" && !isHTTPURL(u.val) {
			return nil, fmt.Errorf("company %s %q is not an http(s) URL", u.name, u.val)
		}
		v[u.f] = u.val
	}
	if e := p.c.Event; e != nil {
		v[fEventTitle], v[fEventLocation] = e.Title, e.Location
		if e.Location != "" {
			v[fEventMap] = mapsSearchURL(e.Location)
		}
		if e.URL != "" && !isHTTPURL(e.URL) {
			return nil, fmt.Errorf("event url %q is not an http(s) URL", e.URL)
		}
		v[fEventURL] = e.URL
	}
	return v, nil
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// prepareLocale runs Hermes once for one locale and compiles the result:
// the campaign's subject and body, or those of Options.Notice.
func (p *Prepared) prepareLocale(loc, subject string, b campaigns.Body) (*localeTemplate, error) {
	str, err := templates.StringsFor(loc)
	if err != nil {
		return nil, err
	}
	event := p.c.Event != nil
	opts := templates.Options{Logo: p.c.Company.Logo != "", Privacy: p.c.Company.PrivacyURL != "", Open: p.opens, RSVP: event}
	if p.opts.Notice != NoticeInvitation {
		n, err := templates.NoticeFor(p.opts.Notice, loc)
		if err != nil {
			return nil, err
		}
		// The campaign's signature goes too: it may speak of the invitation.
		subject, b = n.Subject, campaigns.Body{Intros: n.Intros, Outros: []string{str.NoticeOutro}}
		opts.RSVP, opts.RSVPPrompt = n.RSVPPrompt != "", n.RSVPPrompt
		opts.Details, opts.Location, opts.URL = true, p.c.Event.Location != "", p.c.Event.URL != ""
	}
	lt := &localeTemplate{locale: loc, str: str, fallback: make(values, numFields)}
	for name, text := range p.c.Fallback[loc] {
		if f, ok := templateFields[name]; ok && !isStatic(f) {
			lt.fallback[f], lt.has[f] = text, true
		}
	}

	subj, err := p.ph.substitute(subject, event)
	if err != nil {
		return nil, fmt.Errorf("subject: %w", err)
	}
	if lt.subject, err = p.ph.compile(subj, textContext, p.static); err != nil {
		return nil, err
	}

	ph := p.ph.of
	theme, err := templates.NewTheme(cmp.Or(p.c.Template.Theme, "default"), loc, templates.Placeholders{
		Greeting: ph(fGreeting), Subject: ph(fSubject),
		CompanyName: ph(fCompanyName), CompanyAddress: ph(fCompanyAddress), CompanyContact: ph(fCompanyContact),
		CompanyURL: ph(fCompanyURL), PrivacyURL: ph(fPrivacyURL), Logo: ph(fLogo),
		Unsubscribe: ph(fUnsubscribe), Open: ph(fOpen), RSVP: ph(fRSVP),
		EventStart: ph(fEventStart), EventEnd: ph(fEventEnd),
		EventTitle: ph(fEventTitle), EventLocation: ph(fEventLocation), EventMap: ph(fEventMap), EventURL: ph(fEventURL),
	}, opts)
	if err != nil {
		return nil, err
	}

	var links []string // link targets with placeholders, by index
	body, err := p.hermesBody(b, str, event, &links)
	if err != nil {
		return nil, err
	}
	// A value copy per call: Hermes merges defaults into its receiver.
	h := hermes.Hermes{Theme: theme, TextDirection: hermes.TDLeftToRight, Product: hermes.Product{Name: p.c.Company.Name, Link: p.c.Company.URL, Copyright: " "}}
	htmlOut, err := h.GenerateHTML(hermes.Email{Body: body})
	if err != nil {
		return nil, fmt.Errorf("hermes html: %w", err)
	}
	textOut, err := h.GeneratePlainText(hermes.Email{Body: body})
	if err != nil {
		return nil, fmt.Errorf("hermes text: %w", err)
	}
	htmlOut, textOut = p.extractLinks(htmlOut, textOut, &links)
	bounds := p.linkBounds(links)
	if !p.opts.heavy {
		if htmlOut, err = lightenHTML(htmlOut, p.weigh(bounds)); err != nil {
			return nil, err
		}
	}
	if lt.html, err = p.ph.compile(htmlOut, htmlContext, p.static); err != nil {
		return nil, err
	}
	if lt.text, err = p.ph.compile(textOut, textContext, p.static); err != nil {
		return nil, err
	}
	for _, l := range links {
		c, err := p.ph.compile(l, linkContext, p.static)
		if err != nil {
			return nil, err
		}
		lt.links = append(lt.links, c)
	}
	if lt.mime, err = p.buildSkeleton(lt); err != nil {
		return nil, err
	}
	eight := p.opts.EightBitMIME
	allow := func(f field) int { return p.allowance(f, bounds) }
	lt.enc[0] = chooseEncoding(eight, lt.text.longestLine(allow), lt.text.compiledSample())
	lt.enc[1] = chooseEncoding(eight, lt.html.longestLine(allow), lt.html.compiledSample())
	for i, c := range []*compiled{lt.text, lt.html} {
		if lt.enc[i] == encAsIs {
			lt.asIs[i] = newAsIsTemplate(c, allow)
		}
	}
	if p.cal != nil {
		// The calendar object is folded at 75 octets (RFC 5545 §3.1);
		// a sample copy weighs quoted-printable against base64.
		p.locales[loc] = lt // begin looks the locale up
		sample := p.appendICS(nil, p.begin(Recipient{Locale: loc}), p.cal)
		lt.enc[2] = chooseEncoding(eight, 0, sample)
	}
	return lt, nil
}

// hermesBody converts a campaign body, with placeholders for its fields and
// for the targets of its buttons.
func (p *Prepared) hermesBody(b campaigns.Body, str templates.Strings, event bool, links *[]string) (hermes.Body, error) {
	var firstErr error
	sub := func(where, s string) string {
		out, err := p.ph.substitute(s, event)
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("%s: %w", where, err)
		}
		return out
	}
	hb := hermes.Body{Signature: str.DefaultSignature}
	if b.Signature != "" {
		// Japanese signature blocks span lines: keep them in both parts.
		sig := strings.ReplaceAll(strings.TrimSpace(strings.ReplaceAll(b.Signature, "\r\n", "\n")), "\n", p.ph.of(fBreak))
		hb.Signature = sub("signature", sig)
		if co := p.c.Company.Name; co != "" && strings.Contains(b.Signature, co) {
			hb.Greeting = templates.SignedGreeting
		}
	}
	for i, s := range b.Outros {
		hb.Outros = append(hb.Outros, sub(fmt.Sprintf("outros[%d]", i), s))
	}
	if b.Markdown != "" {
		hb.FreeMarkdown = hermes.Markdown(sub("markdown", b.Markdown))
		return hb, firstErr
	}
	for i, s := range b.Intros {
		hb.Intros = append(hb.Intros, sub(fmt.Sprintf("intros[%d]", i), s))
	}
	for i, e := range b.Dictionary {
		hb.Dictionary = append(hb.Dictionary, hermes.Entry{Key: sub(fmt.Sprintf("dictionary[%d]", i), e.Key), Value: sub(fmt.Sprintf("dictionary[%d]", i), e.Value)})
	}
	if t := b.Table; t != nil {
		for r, row := range t.Rows {
			var cells []hermes.Entry
			for ci, col := range t.Columns {
				val := ""
				if ci < len(row) {
					val = sub(fmt.Sprintf("table row %d", r+1), row[ci])
				}
				cells = append(cells, hermes.Entry{Key: sub("table columns", col), Value: val})
			}
			hb.Table.Data = append(hb.Table.Data, cells)
		}
	}
	for i, a := range b.Actions {
		link := sub(fmt.Sprintf("actions[%d].button.link", i), a.ButtonLink)
		if p.isLinkTarget(link) {
			*links = append(*links, link)
			link = p.ph.of(fLink + field(len(*links)-1))
		}
		btn := hermes.Button{Text: sub(fmt.Sprintf("actions[%d].button.text", i), a.ButtonText), Link: link, Color: a.ButtonColor}
		if a.ButtonColor != "" {
			// The campaign's own color: text that stays readable on it (WCAG AA).
			btn.TextColor = templates.ButtonTextColor(a.ButtonColor)
		}
		hb.Actions = append(hb.Actions, hermes.Action{
			Instructions: sub(fmt.Sprintf("actions[%d].instructions", i), a.Instructions),
			Button:       btn,
		})
	}
	return hb, firstErr
}

// isLinkTarget reports whether a link (with placeholders) goes to the web:
// those links are the ones rewritten for click tracking.
func (p *Prepared) isLinkTarget(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://") ||
		strings.HasPrefix(s, p.ph.of(fEventURL)) || strings.HasPrefix(s, p.ph.of(fEventMap))
}

var hrefRE = regexp.MustCompile(`href="([^"]*)"`)

// extractLinks finds the web links Hermes rendered from markdown, gives each
// distinct target a link placeholder in the HTML, and replaces the same
// targets in the plain text.
func (p *Prepared) extractLinks(htmlOut, textOut string, links *[]string) (string, string) {
	index := map[string]int{}
	htmlOut = hrefRE.ReplaceAllStringFunc(htmlOut, func(m string) string {
		target := unescapeAttr(m[len(`href="`) : len(m)-1])
		if !p.isLinkTarget(target) {
			return m
		}
		i, ok := index[target]
		if !ok {
			*links = append(*links, target)
			i = len(*links) - 1
			index[target] = i
		}
		return `href="` + p.ph.of(fLink+field(i)) + `"`
	})
	targets := make([]string, 0, len(index))
	for t := range index {
		targets = append(targets, t)
	}
	// Longest first, so that a target that prefixes another is not replaced inside it.
	sort.Slice(targets, func(a, b int) bool { return len(targets[a]) > len(targets[b]) })
	for _, t := range targets {
		textOut = strings.ReplaceAll(textOut, t, p.ph.of(fLink+field(index[t])))
	}
	return htmlOut, textOut
}
