package inbound

// What each inbound message does, once classified: which delivery it is
// about (attribution) and the effects — a bounce suppresses, an automatic
// reply is counted, a calendar reply answers the RSVP, a request to stop
// (or a complaint) unsubscribes, a human reply is recorded and forwarded
// to the campaign's reply_to. Every effect is idempotent: Reprocess runs
// them again and nothing happens twice.

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"github.com/kizuna-alumni/kizuna/internal/inbound/classify"
	"github.com/kizuna-alumni/kizuna/internal/mailer"
	"github.com/kizuna-alumni/kizuna/internal/roster"
	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/store"
	"github.com/kizuna-alumni/kizuna/internal/token"
)

// What act did, in Outcome.Did (stored with the message's result, shown
// by `kizuna inbound list`).
const (
	DidUnattributed   = "unattributed"    // no delivery found: nothing changed
	DidForgotten      = "forgotten"       // the person was erased: nothing recorded
	DidBounceEvent    = "bounce_event"    // a bounce event on the delivery
	DidSuppressed     = "suppressed"      // the address is suppressed as bounced
	DidSoftLimit      = "soft_limit"      // … because of soft bounces in soft_limit runs
	DidSenderSide     = "sender_side"     // the failure was about the sender: no suppression
	DidSenderPaused   = "sender_paused"   // … and it brought the run to the pause: see senderBounce
	DidAlreadyBounced = "already_bounced" // the worker recorded the bounce at the relay
	DidNoRecipient    = "no_recipient"    // no failed recipient matches the delivery
	DidDelayed        = "delayed"         // only delayed: nothing changes
	DidAutoReply      = "auto_reply_event"
	DidReplyEvent     = "reply_event"
	DidForwardQueued  = "forward_queued"
	DidNoForward      = "no_forward" // automatic, a loop, or no address to forward to
	DidUnsubscribed   = "unsubscribed"
	// DidByAddress follows DidUnsubscribed when the request named no
	// delivery and the person was found by address (the From of a request
	// to stop, the Original-Rcpt-To of a complaint), then ":" and how it
	// came (runs.UnsubscribeMail, runs.UnsubscribeComplaint):
	// "by_address:mail". No delivery event is recorded: there is no
	// delivery.
	DidByAddress      = "by_address"
	DidRSVP           = "rsvp" // followed by ":yes", ":no", ":maybe"
	DidWaitlisted     = "waitlisted"
	DidRSVPUnchanged  = "rsvp_unchanged"
	DidRSVPSuperseded = "rsvp_superseded" // a later answer (the page) stands
	DidRSVPClosed     = "rsvp_closed"     // the deadline had passed
	DidEventCancelled = "event_cancelled"
	DidNotAnEvent     = "not_an_event"
)

// replyExcerpt is how much of a reply's text its event keeps (runes).
const replyExcerpt = 500

// The rule that pauses a run over sender-side bounces: the worker's sender
// circuit breaker (worker.DefaultBreakerFailures and DefaultBreakerDomains)
// for rejections that come back after the relay accepted the message.
const (
	// SenderBounceDeliveries is how many of a run's deliveries must come
	// back rejecting the sender with the same reply (mailer.ReplyPattern).
	SenderBounceDeliveries = 10
	// SenderBounceDomains is how many recipient domains those deliveries
	// must span: one domain refusing is that domain's policy, several
	// refusing alike is the sender's authentication or reputation.
	SenderBounceDomains = 3
)

// act attributes message m (classified as r) to a delivery and applies
// what its class means, in tx (the transaction that marks m processed),
// except a calendar answer, which runs.RecordRSVP records in a transaction
// of its own under the campaign's lock (the same answer again changes
// nothing). An unattributed message changes nothing, except a request to
// stop or a complaint about an alumnus in the roster (unattributed). The
// returned error is a database failure: the message is processed again
// later.
func (p *Processor) act(ctx context.Context, tx *sqlx.Tx, m Stored, r classify.Result) (Outcome, error) {
	var o Outcome
	id, unsubAddr := p.attribute(ctx, tx, m, r)
	if id == 0 {
		return o, p.unattributed(ctx, tx, r, &o)
	}
	rc, err := runs.DeliveryRecipient(ctx, tx, id)
	if errors.Is(err, store.ErrNotFound) {
		return o, p.unattributed(ctx, tx, r, &o)
	}
	if err != nil {
		return o, err
	}
	o.DeliveryID = id
	if !rc.Email.Valid {
		o.Did = append(o.Did, DidForgotten)
		return o, nil
	}
	switch {
	case r.Class == classify.FeedbackReport:
		err = p.unsubscribe(ctx, tx, rc, runs.UnsubscribeComplaint, &o)
	case r.Class == classify.Bounce:
		err = p.bounce(ctx, tx, m, r, rc, &o)
	case r.Class == classify.Delayed:
		o.Did = append(o.Did, DidDelayed)
	case r.Class == classify.CalendarReply:
		err = p.rsvp(ctx, tx, m, r, rc, &o)
	case r.Class == classify.UnsubscribeRequest || unsubAddr:
		err = p.unsubscribe(ctx, tx, rc, runs.UnsubscribeMail, &o)
	case r.Class == classify.AutoReply:
		// Who and the subject ("自動応答: …", "Out of Office: back on …"):
		// what HR sees in `alumni show`.
		detail := map[string]any{"from": r.From, "subject": r.Subject}
		if _, err = runs.RecordInboundEvent(ctx, tx, id, runs.EventAutoReply, m.ID, detail); err == nil {
			o.Did = append(o.Did, DidAutoReply)
		}
	case r.Class == classify.HumanReply:
		err = p.reply(ctx, tx, m, r, rc, &o)
	}
	return o, err
}

// attribute finds the delivery m is about: the signed addresses it was
// sent to (reply+TOKEN@, reply+b.TOKEN@, reply+u.TOKEN@, envelope first),
// then Kizuna's Message-IDs it refers to (In-Reply-To, References newest
// first, the returned message's), with the digest verified. A calendar
// reply is attributed by its UID ({campaign id}@{from domain}) and
// ATTENDEE first; a complaint that names only the recipient
// (Original-Rcpt-To) to their latest delivery. unsub is true when the
// message was sent to the List-Unsubscribe mailto address.
//
// This is a private version of classify.Attribute, which replaces its
// address and Message-ID part when the classifier lands.
func (p *Processor) attribute(ctx context.Context, db sqlx.QueryerContext, m Stored, r classify.Result) (id int64, unsub bool) {
	if r.Class == classify.CalendarReply && r.Calendar != nil {
		if campaign, _, ok := strings.Cut(r.Calendar.UID, "@"); ok && campaign != "" && r.Calendar.Attendee != "" {
			if d, err := runs.DeliveryForAttendee(ctx, db, campaign, r.Calendar.Attendee); err == nil {
				return d, false
			}
		}
	}
	if p.signer != nil {
		local, domain, _ := strings.Cut(p.address, "@")
		for _, a := range slices.Concat(m.EnvelopeTo, r.Addresses) {
			l, d, ok := cutAddress(a)
			if !ok || !strings.EqualFold(d, domain) {
				continue
			}
			purpose, tok, ok := token.ParseLocalPart(l, local)
			if !ok {
				continue
			}
			if c, err := p.signer.VerifyAddress(tok, purpose); err == nil && c.DeliveryID > 0 {
				return c.DeliveryID, purpose == token.Unsubscribe
			}
		}
		ids := []string{r.InReplyTo}
		for i := len(r.References) - 1; i >= 0; i-- {
			ids = append(ids, r.References[i])
		}
		ids = append(ids, r.OriginalMessageID)
		for _, mid := range ids {
			if d := p.ourMessageID(mid); d > 0 {
				return d, false
			}
		}
	}
	if r.Class == classify.FeedbackReport && len(r.OriginalTo) == 1 {
		if d, err := runs.LatestDeliveryTo(ctx, db, r.OriginalTo[0]); err == nil {
			return d, false
		}
	}
	return 0, false
}

// ourMessageID returns the delivery of a Message-ID Kizuna wrote,
// d{delivery}.{run}.{digest}@{from domain} (internal/render), after
// checking its digest; 0 for any other.
func (p *Processor) ourMessageID(mid string) int64 {
	mid = strings.Trim(strings.TrimSpace(mid), "<>")
	local, _, ok := strings.Cut(mid, "@")
	if !ok || len(local) < 2 || local[0] != 'd' {
		return 0
	}
	parts := strings.Split(local[1:], ".")
	if len(parts) != 3 {
		return 0
	}
	d, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || d <= 0 {
		return 0
	}
	want := p.signer.Digest(token.Claims{Purpose: token.MessageID, DeliveryID: d})
	if !hmac.Equal([]byte(want), []byte(parts[2])) {
		return 0
	}
	return d
}

// cutAddress splits an address (optionally in angle brackets) into its
// local part and domain.
func cutAddress(a string) (local, domain string, ok bool) {
	a = strings.Trim(strings.TrimSpace(a), "<>")
	i := strings.LastIndexByte(a, '@')
	if i <= 0 || i == len(a)-1 {
		return "", "", false
	}
	return a[:i], a[i+1:], true
}

// bounce applies a bounce to the delivery: the failed recipient that is
// the delivery's (or the only failed one) is taken. A hard failure (the
// address does not exist: RFC 3463 5.1.1, 5.1.2, 5.1.6, 5.1.10)
// suppresses the address as bounced; a soft one is recorded, and
// suppresses once the person has soft bounces in the campaign's
// bounces.soft_limit distinct runs. A failure about the sender
// (authentication, RFC 3463 X.7.x security or policy, 5.1.7/5.1.8 bad
// sender) is never the recipient's: see senderBounce.
func (p *Processor) bounce(ctx context.Context, tx *sqlx.Tx, m Stored, r classify.Result, rc *runs.Recipient, o *Outcome) error {
	var failed []classify.Recipient
	for _, x := range r.Recipients {
		if x.Action == "failed" {
			failed = append(failed, x)
		}
	}
	var rec *classify.Recipient
	for i := range failed {
		if strings.EqualFold(strings.TrimSpace(failed[i].Address), rc.Email.String) {
			rec = &failed[i]
			break
		}
	}
	if rec == nil && len(failed) == 1 {
		rec = &failed[0]
	}
	if rec == nil {
		o.Did = append(o.Did, DidNoRecipient)
		return nil
	}
	if senderSide(*rec) {
		return p.senderBounce(ctx, tx, m, *rec, rc, o)
	}
	if done, err := runs.HasSMTPBounce(ctx, tx, rc.DeliveryID); err != nil || done {
		if done {
			o.Did = append(o.Did, DidAlreadyBounced)
		}
		return err
	}
	typ := runs.BounceSoft
	if rec.Hard {
		typ = runs.BounceHard
	}
	detail := map[string]any{
		"type": typ, "hard": rec.Hard, "status": rec.Status, "reply_code": rec.ReplyCode,
		"reason": rec.Reason, "diagnostic": rec.Diagnostic, "address": rec.Address,
	}
	if _, err := runs.RecordInboundEvent(ctx, tx, rc.DeliveryID, runs.EventBounce, m.ID, detail); err != nil {
		return err
	}
	o.Did = append(o.Did, DidBounceEvent)
	if !rec.Hard {
		n, err := runs.SoftBounceRuns(ctx, tx, rc.AlumniID)
		if err != nil {
			return err
		}
		if n < rc.Campaign.SoftBounceLimit() {
			return nil
		}
		o.Did = append(o.Did, DidSoftLimit)
	}
	if err := roster.Suppress(ctx, tx, roster.SuppressBounced, []string{rc.Email.String}); err != nil {
		return err
	}
	o.Did = append(o.Did, DidSuppressed)
	return nil
}

// senderSide reports whether a failure is about the sender, not the
// recipient's address: authentication (SPF, DKIM, DMARC: 5.7.26, 5.7.8),
// any X.7.x security or policy status (RFC 3463 §3.8), a bad sender
// address (5.1.7, 5.1.8).
func senderSide(x classify.Recipient) bool {
	if x.Reason == "auth" {
		return true
	}
	s := x.Status
	return strings.HasPrefix(s, "5.7.") || strings.HasPrefix(s, "4.7.") || s == "5.1.7" || s == "5.1.8"
}

// senderBounce records a bounce that rejects the sender (senderSide) on
// its delivery as a bounce event of type runs.BounceSender, which never
// suppresses and is not the run's bounce in its status, and applies the
// worker's circuit-breaker rule to what is stored: when this delivery is
// the one that brings the run's deliveries with a sender-side bounce of
// the same reply (mailer.ReplyPattern: addresses and numbers ignored) to
// SenderBounceDeliveries across SenderBounceDomains recipient domains, the
// run is paused (runs.PauseForSenderTx, in tx) with the reply as its
// reason, and an ALERT is logged once tx commits. This happens once per
// run and reply; a run paused, done or cancelled already is not paused
// (the ALERT still says what came back). Nothing is put back to be sent
// again: those deliveries were accepted by the relay (state sent), and
// whether to send them again once SPF/DKIM/DMARC is fixed is HR's call.
func (p *Processor) senderBounce(ctx context.Context, tx *sqlx.Tx, m Stored, rec classify.Recipient, rc *runs.Recipient, o *Outcome) error {
	o.Did = append(o.Did, DidSenderSide)
	reply := bounceReply(rec)
	pattern := mailer.ReplyPattern(reply)
	_, domain, _ := cutAddress(rc.Email.String)
	domain = strings.ToLower(domain)
	detail := map[string]any{
		"type": runs.BounceSender, "sender_side": true, "status": rec.Status, "reply_code": rec.ReplyCode,
		"reason": rec.Reason, "diagnostic": rec.Diagnostic, "pattern": pattern, "domain": domain,
	}
	added, err := runs.RecordInboundEvent(ctx, tx, rc.DeliveryID, runs.EventBounce, m.ID, detail)
	if err != nil || !added {
		return err
	}
	c, err := runs.SenderBounces(ctx, tx, rc.RunID, rc.DeliveryID, m.ID, pattern)
	if err != nil {
		return err
	}
	if !c.Crossed(SenderBounceDeliveries, SenderBounceDomains) {
		return nil
	}
	reason := fmt.Sprintf("the recipients' servers reject the sender: %s (%d messages to %d domains came back alike; "+
		"check SPF/DKIM/DMARC of the From domain, then kizuna campaign resume %s)", reply, c.Deliveries, c.Domains, rc.CampaignID)
	paused := true
	if err := runs.PauseForSenderTx(ctx, tx, rc.RunID, reason, nil); errors.Is(err, runs.ErrState) {
		paused = false
	} else if err != nil {
		return err
	}
	o.Did = append(o.Did, DidSenderPaused)
	what := "pausing run"
	if !paused {
		what = "run " + c.State + ", not paused"
	}
	o.alerts = append(o.alerts, alert{
		msg: "ALERT: " + what + ": the recipients' servers reject the sender; check SPF/DKIM/DMARC",
		args: []any{"campaign", rc.CampaignID, "run", rc.RunNumber, "run_id", rc.RunID,
			"deliveries", c.Deliveries, "domains", c.Domains, "reply", reply},
	})
	return nil
}

// bounceReply is a returned message's failure as a server's reply: the
// SMTP code and enhanced status, then the remote server's words without
// the codes that start each of their lines (RFC 5321 §4.2.1: "550-5.7.26
// …", "550 5.7.26 …"): "550 5.7.26 Unauthenticated email from …".
func bounceReply(rec classify.Recipient) string {
	diag := replyCodesRe.ReplaceAllString(rec.Diagnostic, " ")
	if t, ok := strings.CutPrefix(strings.TrimSpace(diag), rec.ReplyCode+" "); ok && rec.ReplyCode != "" {
		diag = t
	}
	return strings.Join(strings.Fields(rec.ReplyCode+" "+rec.Status+" "+diag), " ")
}

// replyCodesRe is a reply code with its enhanced status code, as each line
// of a multiline reply starts.
var replyCodesRe = regexp.MustCompile(`(^|\s)[245][0-9][0-9][ -][245]\.[0-9]{1,3}\.[0-9]{1,3}(\s|$)`)

// unsubscribe stops mail to the delivery's recipient exactly as the
// unsubscribe page does (internal/web): the address is suppressed and an
// unsubscribe event is recorded on the delivery unless it has one.
func (p *Processor) unsubscribe(ctx context.Context, tx *sqlx.Tx, rc *runs.Recipient, via string, o *Outcome) error {
	if err := roster.Suppress(ctx, tx, roster.SuppressUnsubscribed, []string{rc.Email.String}); err != nil {
		return err
	}
	if _, err := runs.RecordUnsubscribe(ctx, tx, rc.DeliveryID, via); err != nil {
		return err
	}
	o.Did = append(o.Did, DidUnsubscribed)
	return nil
}

// unattributed handles a message that names no delivery (no signed
// address, none of our Message-IDs: a request to stop written to the bare
// inbound address). A request to stop, or a complaint, about an alumnus
// in the roster — the From of the request, the only Original-Rcpt-To of
// the complaint (RFC 5965 §3.2) — unsubscribes that person with
// roster.UnsubscribeAlumnus: the Act on Regulation of the Transmission of
// Specified Electronic Mail (特定電子メール法) §3(3) forbids mailing someone
// who has said no, however they said it. No delivery event is recorded
// (there is no delivery); the message's result says DidUnsubscribed and
// DidByAddress. Anything else, and an address not in the roster, changes
// nothing (DidUnattributed).
func (p *Processor) unattributed(ctx context.Context, tx *sqlx.Tx, r classify.Result, o *Outcome) error {
	var addr, via string
	switch {
	case r.Class == classify.UnsubscribeRequest && !r.Automatic:
		addr, via = r.From, runs.UnsubscribeMail
	case r.Class == classify.FeedbackReport && len(r.OriginalTo) == 1:
		addr, via = r.OriginalTo[0], runs.UnsubscribeComplaint
	}
	if addr == "" || p.ours(addr) {
		o.Did = append(o.Did, DidUnattributed)
		return nil
	}
	if _, err := roster.UnsubscribeAlumnus(ctx, tx, addr); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			o.Did = append(o.Did, DidUnattributed)
			return nil
		}
		return err
	}
	o.Did = append(o.Did, DidUnsubscribed, DidByAddress+":"+via)
	return nil
}

// partStats maps an iMIP REPLY's PARTSTAT (RFC 5545 §3.2.12) to an answer.
var partStats = map[string]string{
	"ACCEPTED": runs.AnswerYes, "DECLINED": runs.AnswerNo, "TENTATIVE": runs.AnswerMaybe,
}

// rsvp records a calendar reply as the person's answer through
// runs.RecordRSVP, the page's rule: capacity, waiting list, deadline,
// notices. The answer is dated by the message (its Date, or when it
// arrived when that is missing or later); an answer the person gave later
// (on the page) stands. A closed or cancelled event changes nothing.
func (p *Processor) rsvp(ctx context.Context, tx *sqlx.Tx, m Stored, r classify.Result, rc *runs.Recipient, o *Outcome) error {
	answer, ok := partStats[strings.ToUpper(r.Calendar.PartStat)]
	if !ok {
		o.Did = append(o.Did, DidRSVPUnchanged)
		return nil
	}
	at := m.ReceivedAt
	if at.IsZero() {
		at = time.Now()
	}
	if !r.Date.IsZero() && r.Date.Before(at) {
		at = r.Date
	}
	// Postgres keeps microseconds (rounded): the same message again must
	// compare equal to the answer it recorded.
	at = at.Round(time.Microsecond)
	cur, err := runs.LoadRSVP(ctx, tx, rc.DeliveryID)
	if errors.Is(err, store.ErrNotFound) {
		o.Did = append(o.Did, DidNotAnEvent)
		return nil
	}
	if err != nil {
		return err
	}
	if cur.Answer != "" && cur.AnsweredAt != nil && cur.AnsweredAt.After(at) {
		o.Did = append(o.Did, DidRSVPSuperseded)
		return nil
	}
	res, err := runs.RecordRSVP(ctx, p.db, runs.Answer{DeliveryID: rc.DeliveryID, Answer: answer, At: at, Via: "calendar"}, p.enqueue)
	switch {
	case errors.Is(err, runs.ErrRSVPClosed):
		o.Did = append(o.Did, DidRSVPClosed)
		return nil
	case errors.Is(err, runs.ErrEventCancelled):
		o.Did = append(o.Did, DidEventCancelled)
		return nil
	case errors.Is(err, store.ErrNotFound):
		o.Did = append(o.Did, DidNotAnEvent)
		return nil
	case err != nil:
		return err
	}
	o.Did = append(o.Did, DidRSVP+":"+res.Answer)
	if res.Waitlisted {
		o.Did = append(o.Did, DidWaitlisted)
	}
	if !res.Changed {
		o.Did = append(o.Did, DidRSVPUnchanged)
	}
	return nil
}

// reply records a human reply on its delivery (who, the subject, the first
// 500 characters) and queues its forward to the campaign's reply_to (else
// its From address): not for automatic mail, and not for mail from the
// inbound address itself or to it (a loop).
func (p *Processor) reply(ctx context.Context, tx *sqlx.Tx, m Stored, r classify.Result, rc *runs.Recipient, o *Outcome) error {
	detail := map[string]any{"from": r.From, "subject": r.Subject, "text": excerpt(r.Text, replyExcerpt)}
	if _, err := runs.RecordInboundEvent(ctx, tx, rc.DeliveryID, runs.EventReply, m.ID, detail); err != nil {
		return err
	}
	o.Did = append(o.Did, DidReplyEvent)
	to := forwardAddress(rc)
	if r.Automatic || to == "" || p.ours(r.From) || p.ours(to) {
		o.Did = append(o.Did, DidNoForward)
		return nil
	}
	if _, err := tx.ExecContext(ctx, qQueueForward, m.ID, to); err != nil {
		return fmt.Errorf("queue the forward of inbound message %d: %w", m.ID, err)
	}
	o.Did = append(o.Did, DidForwardQueued)
	return nil
}

// forwardAddress is where a reply to rc's delivery goes: the reply_to of
// the campaign version its run sent, else the address in its From.
func forwardAddress(rc *runs.Recipient) string {
	if rc.Campaign == nil {
		return ""
	}
	for _, s := range []string{rc.Campaign.ReplyTo, rc.Campaign.From} {
		if a, err := mail.ParseAddress(s); err == nil {
			return a.Address
		}
	}
	return ""
}

// ours reports whether addr is the inbound address or one of its
// subaddresses (reply+…@): mail from there is Kizuna's own.
func (p *Processor) ours(addr string) bool {
	local, domain, ok := cutAddress(addr)
	base, ourDomain, _ := strings.Cut(p.address, "@")
	if !ok || base == "" || !strings.EqualFold(domain, ourDomain) {
		return false
	}
	return strings.EqualFold(local, base) || (len(local) > len(base) && strings.EqualFold(local[:len(base)+1], base+"+"))
}

// excerpt is the first n runes of s.
func excerpt(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for k := 0; k < n; k++ {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i]
}
