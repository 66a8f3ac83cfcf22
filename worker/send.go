package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/mailer"
	"github.com/kizuna-alumni/kizuna/internal/render"
	"github.com/kizuna-alumni/kizuna/internal/roster"
	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/tasks"
	"github.com/kizuna-alumni/kizuna/internal/tz"
)

// handleSend processes one send task: lease its chunk and claim its
// deliveries, then per delivery check, render, send and record, and end the
// lease once every result is recorded.
func (w *Worker) handleSend(ctx context.Context, t *asynq.Task) error {
	p, err := tasks.ParseSend(t.Payload())
	if err != nil {
		w.log.Error("dropping a malformed send task", "err", err)
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	log := w.log.With("run_id", p.Run, "chunk", p.Chunk)
	if w.isStopping() {
		// Leave the chunk to another worker (unless one is sending it).
		return runs.Unqueue(context.WithoutCancel(ctx), w.db, p.IDs)
	}
	c, err := w.stmts.Claim(ctx, p.Run, p.Chunk, p.IDs, w.opt.Lease)
	if err != nil {
		return err
	}
	if !c.Held {
		// Another execution holds the chunk (a duplicate of this task):
		// its deliveries are being sent; touch nothing.
		log.Debug("chunk leased by another execution; skipping the task")
		return nil
	}
	lease := &chunkLease{Lease: c.Lease}
	rest := unclaimed(p.IDs, c.Deliveries)
	if len(c.Deliveries) == 0 {
		return w.endChunk(ctx, log, lease, rest)
	}
	cl := c.Deliveries
	run := cl[0].Run()
	log = log.With("campaign_id", run.CampaignID, "run", run.Number)
	// A chunk of a notice run may carry several messages (confirmations,
	// promotions); every other chunk is one group.
	groups := byMessage(cl)
	final := false
	for i, g := range groups {
		prep, err := w.cache.get(ctx, w.db, run, g[0].Message(), w.opt.Deps.Prepare)
		if err != nil {
			// Nothing of this message can be rendered: stop the run and
			// tell HR rather than failing every recipient.
			reason := "cannot render the campaign: " + err.Error()
			log.Error("pausing run: "+reason, "err", err)
			if perr := runs.Pause(context.WithoutCancel(ctx), w.db, run.ID, reason); perr != nil && !errors.Is(perr, runs.ErrState) {
				log.Error("could not pause run", "err", perr)
			}
			return w.finish(ctx, log, run, lease, rest, w.releaseGroups(log, run, lease, groups[i:]), final)
		}
		s := w.newChunk(log, run, lease, prep.c, prep.r, len(g))
		done := s.process(ctx, g)
		err = s.wait()
		if err == nil {
			s.afterRecord(ctx)
		} else if rerr := w.releaseGroups(log, run, lease, groups[i+1:]); rerr != nil {
			log.Warn("could not release the rest of the chunk; its lease expires", "err", rerr)
		}
		final = final || done
		if err != nil {
			return w.finish(ctx, log, run, lease, rest, err, final)
		}
	}
	return w.finish(ctx, log, run, lease, rest, nil, final)
}

// chunkLease is the lease of the chunk a task is sending, extended as it
// goes (its groups are sent one after the other).
type chunkLease struct {
	runs.Lease
	lost bool // the lease expired and is no longer this execution's
	at   time.Time
}

// endChunk ends the chunk's lease, every result being recorded, and hands
// rest (the deliveries the claim did not get) back to the reconciler.
func (w *Worker) endChunk(ctx context.Context, log *slog.Logger, lease *chunkLease, rest []int64) error {
	if lease.lost {
		return nil
	}
	if err := runs.EndChunk(context.WithoutCancel(ctx), w.db, lease.Lease, rest); err != nil {
		// The lease expires and the reconciler hands out what is left.
		log.Warn("could not end the chunk's lease; it expires", "err", err)
	}
	return nil
}

// byMessage splits claimed deliveries by the message they carry
// (runs.Claimed.Message), keeping their order within each group.
func byMessage(cl []runs.Claimed) [][]runs.Claimed {
	var groups [][]runs.Claimed
	index := map[string]int{}
	for _, d := range cl {
		m := d.Message()
		i, ok := index[m]
		if !ok {
			i = len(groups)
			index[m] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], d)
	}
	return groups
}

// releaseGroups gives claimed deliveries back unsent, without using an
// attempt, and returns the recording's error.
func (w *Worker) releaseGroups(log *slog.Logger, run runs.Run, lease *chunkLease, groups [][]runs.Claimed) error {
	var rest []runs.Claimed
	for _, g := range groups {
		rest = append(rest, g...)
	}
	if len(rest) == 0 {
		return nil
	}
	s := w.newChunk(log, run, lease, nil, nil, len(rest))
	s.release(rest, time.Time{})
	return s.wait()
}

// preferenceReason is the recorded reason a delivery was not sent to a
// person who opted out of its kind of mail.
func preferenceReason(kinds string) string {
	switch kinds {
	case roster.MailNewsletter:
		return "preference: only newsletters"
	case roster.MailEvent:
		return "preference: only event invitations"
	}
	return "preference: " + kinds
}

// unclaimed returns the ids of the task that the claim did not get.
func unclaimed(ids []int64, cl []runs.Claimed) []int64 {
	if len(cl) == len(ids) {
		return nil
	}
	got := make(map[int64]bool, len(cl))
	for _, c := range cl {
		got[c.ID] = true
	}
	var rest []int64
	for _, id := range ids {
		if !got[id] {
			rest = append(rest, id)
		}
	}
	return rest
}

// finish returns the outcome err of recording, ends the chunk's lease
// when every result is recorded (a failed recording keeps it: the
// deliveries wait for it to expire), and marks the run done when its last
// delivery was just recorded.
func (w *Worker) finish(ctx context.Context, log *slog.Logger, run runs.Run, lease *chunkLease, rest []int64, err error, final bool) error {
	if err != nil {
		return fmt.Errorf("%w: %w", errRecord, err)
	}
	w.endChunk(ctx, log, lease, rest)
	if final {
		w.checkDone(log, run.ID)
	}
	return nil
}

// checkDone marks run done when its last delivery is recorded, at most
// once a second per run (donePacer), with a trailing check after a
// skipped one.
func (w *Worker) checkDone(log *slog.Logger, run int64) {
	checkNow, trailing, wait := w.done.take(run, time.Now())
	switch {
	case checkNow:
		w.finishIfDone(log, run)
	case trailing:
		time.AfterFunc(wait, func() {
			w.done.trailingRan(run, time.Now())
			if !w.isStopping() {
				w.finishIfDone(log, run)
			}
		})
	}
}

func (w *Worker) finishIfDone(log *slog.Logger, run int64) {
	if done, err := runs.FinishIfDone(context.Background(), w.db, run); err != nil {
		log.Warn("could not check whether the run is done", "err", err)
	} else if done {
		log.Info("run done")
	}
}

func (w *Worker) isStopping() bool {
	select {
	case <-w.stopping:
		return true
	default:
		return false
	}
}

// chunk is one task's deliveries being sent by one goroutine.
type chunk struct {
	w     *Worker
	log   *slog.Logger
	run   runs.Run
	lease *chunkLease
	c     *campaigns.Campaign
	r     *render.Prepared
	snd   mailer.Sender // taken from the pool at the first send
	acks  chan error
	n     int // results submitted

	// window is the earliest moment the send window opens again for a
	// delivery this chunk held back, and that delivery's time zone.
	window     time.Time
	windowZone string
	// tripped holds the replies that tripped the sender circuit breaker:
	// the run is paused once this chunk's results are recorded.
	tripped       []string
	trippedReason string
	// retryAt is when the deliveries given back after the relay did not
	// answer are due again (zero otherwise).
	retryAt time.Time
	// took is the SMTP transaction time of the last message sent.
	took time.Duration
	// buf holds the message being sent; each message of the chunk is
	// rendered over the previous one (render.Prepared.RenderAppend).
	buf []byte
}

func (w *Worker) newChunk(log *slog.Logger, run runs.Run, lease *chunkLease, c *campaigns.Campaign, r *render.Prepared, n int) *chunk {
	return &chunk{w: w, log: log, run: run, lease: lease, c: c, r: r, acks: make(chan error, n)}
}

func (s *chunk) submit(r result) {
	s.w.rec.Submit(r, s.acks)
	s.n++
}

// release gives deliveries back untried, without using an attempt, due
// again at at (zero: when they were due).
func (s *chunk) release(cl []runs.Claimed, at time.Time) {
	for _, d := range cl {
		s.submit(released(d, at))
	}
}

// wait returns once every submitted result is committed.
func (s *chunk) wait() error {
	var first error
	for i := 0; i < s.n; i++ {
		if err := <-s.acks; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// afterRecord does what must follow the chunk's recorded results: pause
// the run when the circuit breaker tripped (its failed deliveries are now
// in Postgres to be put back), and say that the run waits for its window.
func (s *chunk) afterRecord(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	w := s.w
	if s.tripped != nil {
		s.log.Error("ALERT: pausing run: " + s.trippedReason)
		if err := runs.PauseForSender(ctx, w.db, s.run.ID, s.trippedReason, s.tripped); err != nil && !errors.Is(err, runs.ErrState) {
			s.log.Error("could not pause run", "err", err)
		}
	}
	if !s.window.IsZero() {
		if err := runs.SetHold(ctx, w.db, s.run.ID, runs.Hold{Reason: runs.HoldWindow, Detail: s.windowZone, Until: s.window}); err != nil {
			s.log.Warn("could not record the run's wait for its window", "err", err)
		}
		if w.holdLog.take("window:"+strconv.FormatInt(s.run.ID, 10), time.Now()) {
			s.log.Info("deliveries wait for the send window",
				"opens", s.window.In(tz.Load(s.windowZone)).Format("2006-01-02 15:04 MST"), "time_zone", s.windowZone)
		}
	}
}

// process sends the claimed deliveries in order; it reports whether any
// reached a final state (so the run may be done). It returns early, giving
// the rest back, when the worker stops, the relay does not answer, a limit
// holds back the whole run, or the run pauses.
func (s *chunk) process(ctx context.Context, cl []runs.Claimed) (final bool) {
	w := s.w
	defer func() {
		if s.snd != nil {
			w.putSender(s.snd)
		}
	}()
	if s.lease.at.IsZero() {
		s.lease.at = time.Now()
	}
	domainHeld := 0 // deliveries of this chunk held back by their domain
	for i, d := range cl {
		if w.isStopping() || ctx.Err() != nil || s.lease.lost {
			s.release(cl[i:], time.Time{})
			return final
		}
		if time.Since(s.lease.at) > w.opt.Lease/3 && !s.extendLease(ctx) {
			// Another execution may be sending the rest now.
			s.release(cl[i:], time.Time{})
			return final
		}
		// Suppression is checked again at send time: the person may have
		// unsubscribed or bounced since the run was expanded.
		if d.Status != "active" || d.Suppressed || !d.Email.Valid {
			s.submit(suppressed(d, "suppressed: "+d.Status))
			final = true
			continue
		}
		// So is the kind of mail the person still wants, saved on the
		// unsubscribe page (roster.SetPreferences).
		if !roster.Wants(d.MailKinds, d.CampaignKind) {
			s.submit(suppressed(d, preferenceReason(d.MailKinds)))
			final = true
			continue
		}
		if next, closed := s.windowClosed(d); closed {
			s.submit(released(d, next))
			continue
		}
		// While the relay does not answer, one goroutine of the process
		// tries it at a time; the others give their deliveries back.
		if ok, at := w.gate.admit(time.Now()); !ok {
			s.release(cl[i:], at)
			return final
		}
		wait, ok := s.throttle(ctx, d)
		if !ok {
			w.gate.abandoned()
			if wait.WholeRun {
				s.holdRun(ctx, cl[i:], wait)
				return final
			}
			domainHeld++
			s.submit(released(d, time.Now().Add(wait.RetryIn+time.Duration(domainHeld-1)*wait.Spacing)))
			continue
		}
		msg, err := s.r.RenderAppend(s.buf, recipient(d))
		if err != nil {
			w.gate.abandoned()
			s.cancelReservation(ctx, wait)
			s.log.Warn("cannot render message; delivery failed", "delivery_id", d.ID, "err", err)
			s.submit(failed(d, "render: "+err.Error()))
			final = true
			continue
		}
		if s.snd == nil {
			s.snd = w.sender()
		}
		began := time.Now()
		sendErr := s.snd.Send(ctx, mailer.Envelope{From: msg.EnvelopeFrom, To: msg.To, Data: msg.Data, EightBit: msg.EightBit, CRLF: true})
		s.buf = msg.Data[:0] // the next message of the chunk is written over it
		s.took = time.Since(began)
		out := mailer.Classify(sendErr)
		if out != mailer.OK {
			// Limits and quotas count what the relay accepted.
			s.cancelReservation(ctx, wait)
		}
		done, stop := s.outcome(ctx, d, msg, out, sendErr)
		final = final || done
		if stop {
			s.release(cl[i+1:], s.retryAt)
			return final
		}
	}
	return final
}

// outcome records what the relay's answer means for d: done when d reached
// a final state, stop when the rest of the chunk must go back (the relay
// is unavailable, the run pauses). d itself is always accounted for.
func (s *chunk) outcome(ctx context.Context, d runs.Claimed, msg *render.Message, out mailer.Outcome, sendErr error) (done, stop bool) {
	w := s.w
	if errors.Is(sendErr, mailer.ErrNo8BitMIME) {
		// The relay stopped offering 8BITMIME: prepare again without
		// 8bit; d and the rest go back untried, without an attempt.
		s.log.Warn("the relay does not offer 8BITMIME; preparing the message again without 8bit", "delivery_id", d.ID)
		if f := w.opt.Deps.Forget8BitMIME; f != nil {
			f()
		}
		w.cache.clear()
		s.submit(released(d, time.Time{}))
		return false, true
	}
	if out == mailer.RelayUnavailable {
		s.relayUnavailable(ctx, d, sendErr)
		return false, true
	}
	if ended, lasted := w.gate.answered(time.Now()); ended {
		s.log.Info("the relay answers again; sending carries on", "outage", lasted.Round(time.Second).String())
		if err := runs.ClearHolds(context.WithoutCancel(ctx), w.db, runs.HoldRelay); err != nil {
			s.log.Warn("could not clear the relay holds", "err", err)
		}
	}
	reply := errText(sendErr)
	m := w.opt.Metrics
	if out != mailer.OK {
		m.SendTime(s.took) // the relay answered: a transaction all the same
	}
	switch out {
	case mailer.OK:
		m.Sent(s.took)
		// Recorded even if the task is being cancelled: the relay has it.
		reply := s.snd.LastReply()
		if reply == "" {
			reply = "250 accepted"
		}
		s.submit(sent(d, msg.MessageID, reply))
		w.breaker.accepted(s.run.ID)
		return true, false
	case mailer.Temporary:
		if d.Attempts >= w.opt.MaxAttempts {
			s.logFailure(d, "delivery failed after its last attempt", reply, "attempts", d.Attempts)
			m.Failed()
			s.submit(failed(d, reply))
			return true, false
		}
		m.Retried()
		s.submit(retryLater(d, reply, time.Now().Add(w.opt.Deps.backoff(d.Attempts))))
		return false, false
	case mailer.HardBounce:
		s.logFailure(d, "hard bounce: address suppressed", reply)
		m.Bounced()
		s.submit(bounced(d, reply))
		return true, false
	case mailer.SenderRejected:
		reason := mailer.Explain(sendErr)
		s.log.Error("ALERT: pausing run: "+reason+" (fix the relay account or sender, then kizuna campaign resume "+s.run.CampaignID+")",
			"delivery_id", d.ID)
		if err := runs.Pause(context.WithoutCancel(ctx), w.db, s.run.ID, reason); err != nil && !errors.Is(err, runs.ErrState) {
			s.log.Error("could not pause run", "err", err)
		}
		s.submit(released(d, time.Time{}))
		return false, true
	}
	// mailer.Permanent
	if replies := w.breaker.failed(s.run.ID, emailDomain(d.Email.String), reply); replies != nil {
		// The relay refuses everyone alike: a sender problem that looks
		// like a recipient's. d and the rest go back; the run pauses once
		// they are recorded.
		s.tripped = replies
		s.trippedReason = fmt.Sprintf("the relay refused %d messages in a row to %d or more domains with the same reply, "+
			"which points at the sender, not the recipients: %s (fix the sender or relay account, then kizuna campaign resume %s)",
			w.opt.BreakerFailures, w.opt.BreakerDomains, reply, s.run.CampaignID)
		s.submit(released(d, time.Time{}))
		return false, true
	}
	s.logFailure(d, "delivery failed", reply)
	m.Failed()
	s.submit(failed(d, reply))
	return true, false
}

// recipient is the claimed delivery as the renderer addresses it.
func recipient(d runs.Claimed) render.Recipient {
	r := render.Recipient{
		DeliveryID: d.ID, Email: d.Email.String, FamilyName: d.FamilyName, GivenName: d.GivenName,
		Department: d.Department, Locale: d.Locale, TimeZone: d.TimeZone,
	}
	if d.JoinedOn.Valid {
		r.JoinedOn = d.JoinedOn.Time
	}
	if d.LeftOn.Valid {
		r.LeftOn = d.LeftOn.Time
	}
	return r
}

// windowClosed reports whether the campaign's send window is closed for d
// now and, if so, when it opens; it remembers the earliest opening for the
// run's hold. The window holds back bulk sends only: reminders, updates,
// cancellations and notices are due when they are due.
func (s *chunk) windowClosed(d runs.Claimed) (next time.Time, closed bool) {
	win := s.c.Schedule.Window
	if win == nil || s.w.opt.Deps.Window == nil || runs.IsTransactional(s.run.Kind) {
		return time.Time{}, false
	}
	ok, next := s.w.opt.Deps.Window(win, d.TimeZone, time.Now())
	if ok {
		return time.Time{}, false
	}
	if s.window.IsZero() || next.Before(s.window) {
		s.window, s.windowZone = next, tz.Name(d.TimeZone)
	}
	return next, true
}

// holdRun gives back the rest of the chunk when a limit of the whole run
// denies (its per-minute pace, the relay's daily quota), spaced out at the
// limit's pace so that they do not all return at once.
func (s *chunk) holdRun(ctx context.Context, rest []runs.Claimed, wait Wait) {
	if wait.Quota {
		s.heldByQuota(ctx, time.Now().Add(wait.RetryIn))
	}
	for k, d := range rest {
		s.submit(released(d, time.Now().Add(wait.RetryIn+time.Duration(k)*wait.Spacing)))
	}
}

// relayUnavailable gives d back without using up an attempt, to be tried
// when the relay gate next lets a probe through, and says so: in the run's
// hold (campaign status) and in the log at most once a minute, with an
// ALERT once the outage lasts longer than Options.RelayAlertAfter.
func (s *chunk) relayUnavailable(ctx context.Context, d runs.Claimed, sendErr error) {
	w := s.w
	why := mailer.Explain(sendErr)
	o := w.gate.failed(time.Now(), why)
	s.retryAt = o.nextTry
	s.submit(released(d, o.nextTry))
	if err := runs.SetHold(context.WithoutCancel(ctx), w.db, s.run.ID,
		runs.Hold{Reason: runs.HoldRelay, Detail: why, Since: o.since, Until: o.nextTry}); err != nil {
		s.log.Warn("could not record the relay outage on the run", "err", err)
	}
	down := time.Since(o.since).Round(time.Second)
	if o.log || o.first {
		s.log.Warn("the relay is unavailable; deliveries wait without using an attempt and sending carries on by itself when it answers",
			"reason", why, "down_for", down.String(), "next_try", o.nextTry.Format(time.RFC3339))
	}
	if o.alert {
		s.log.Error("ALERT: the relay has not answered for "+down.String()+"; check KIZUNA_SMTP_URL and the relay", "reason", why)
	}
}

// heldByQuota says that the relay account's daily quota holds the run
// until at: in the run's hold and, once a minute, in the log.
func (s *chunk) heldByQuota(ctx context.Context, at time.Time) {
	w := s.w
	if err := runs.SetHold(context.WithoutCancel(ctx), w.db, s.run.ID, runs.Hold{Reason: runs.HoldQuota, Until: at}); err != nil {
		s.log.Warn("could not record the quota hold on the run", "err", err)
	}
	if w.holdLog.take("quota:"+strconv.FormatInt(s.run.ID, 10), time.Now()) {
		s.log.Warn("the relay account's daily quota (throttle per_day) is used up; the run waits",
			"resumes_at", at.Format(time.RFC3339))
	}
}

// cancelReservation takes back the room a throttle reserved for a message
// the relay did not accept.
func (s *chunk) cancelReservation(ctx context.Context, wait Wait) {
	if wait.Cancel == nil {
		return
	}
	if err := wait.Cancel(context.WithoutCancel(ctx)); err != nil {
		s.log.Warn("could not return an unused throttle reservation", "err", err)
	}
}

// logFailure logs a failed or bounced delivery with the relay's reply,
// at most a few dozen lines a minute during a storm (the rest are counted
// and the count is logged with the next line). The address is not logged:
// logs cannot be erased by forget.
func (s *chunk) logFailure(d runs.Claimed, msg, reply string, args ...any) {
	ok, skipped := s.w.failLog.take(time.Now())
	if !ok {
		return
	}
	args = append(args, "delivery_id", d.ID, "reply", reply)
	if skipped > 0 {
		args = append(args, "not_logged_before", skipped)
	}
	s.log.Warn(msg, args...)
}

// emailDomain is the part of an address after its last @.
func emailDomain(addr string) string {
	if at := strings.LastIndexByte(addr, '@'); at >= 0 {
		return strings.ToLower(addr[at+1:])
	}
	return addr
}

// throttle asks the shared limits for one message to d. Short waits are
// taken here; a longer one releases the delivery (without using up an
// attempt).
func (s *chunk) throttle(ctx context.Context, d runs.Claimed) (Wait, bool) {
	th := s.w.opt.Deps.Throttle
	if th == nil {
		return Wait{}, true
	}
	for {
		wait, err := th(ctx, s.c, s.run, d.Email.String)
		if err != nil {
			if ok, dropped := s.w.mon.Allow("throttle", true); ok {
				s.log.Warn("throttle check failed; deliveries wait", "err", err, "failures_left_out", dropped)
			}
			return Wait{RetryIn: 5 * time.Second}, false
		}
		if wait.RetryIn <= 0 {
			return wait, true
		}
		if wait.RetryIn > time.Second {
			return wait, false
		}
		select {
		case <-time.After(wait.RetryIn):
		case <-s.w.stopping:
			return wait, false
		case <-ctx.Done():
			return wait, false
		}
	}
}

// extendLease keeps a slow chunk this execution's for another lease; it
// reports false when the lease was lost (it expired, and the reconciler
// or another execution took the chunk over).
func (s *chunk) extendLease(ctx context.Context) bool {
	l := s.lease
	next, held, err := runs.ExtendLease(ctx, s.w.db, l.Lease, s.w.opt.Lease)
	if err != nil {
		if time.Now().Before(l.Until) {
			s.log.Warn("could not extend the chunk's lease; sending on while it lasts", "err", err)
			return true
		}
		// Past its expiry the chunk may be someone else's: stop.
		s.log.Warn("could not extend the chunk's lease, which has expired; giving the rest back", "err", err)
		l.lost = true
		return false
	}
	if !held {
		s.log.Warn("the chunk's lease expired before it was extended; giving the rest back")
		l.lost = true
		return false
	}
	l.Lease, l.at = next, time.Now()
	return true
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
