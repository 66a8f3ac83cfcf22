package worker

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/tasks"
)

// claimed is one delivery this worker holds under a lease.
type claimed struct {
	ID          int64          `db:"id"`
	RunID       int64          `db:"run_id"`
	AlumniID    int64          `db:"alumni_id"`
	Attempts    int            `db:"attempts"`
	VersionID   int64          `db:"version_id"`
	CampaignID  string         `db:"campaign_id"`
	RunNumber   int            `db:"number"`
	RunKind     string         `db:"kind"`
	Email       sql.NullString `db:"email"`
	FamilyName  string         `db:"family_name"`
	GivenName   string         `db:"given_name"`
	Department  string         `db:"department"`
	JoinedOn    sql.NullTime   `db:"joined_on"`
	LeftOn      sql.NullTime   `db:"left_on"`
	Locale      string         `db:"locale"`
	TimeZone    string         `db:"timezone"`
	Status      string         `db:"status"`
	Suppressed  bool           `db:"suppressed"`
	EmailDomain string         `db:"-"`
}

// claimSQL takes the task's deliveries that are claimable — pending, or
// sending under an expired lease (a worker died) — of a run that may send,
// and due; it raises their attempt count and leases them, all in one
// statement, and returns what sending needs. Two workers claiming the same
// IDs never both get one: the second sees the first's lease.
//
// Whether a row is claimable (of the task's run, pending or under an
// expired lease) is one CASE on purpose: written as plain conditions,
// "run_id = $3 AND state IN (pending, sending)" matches the partial index
// deliveries_open_idx, and a planner without fresh statistics for a run
// just expanded (autovacuum has not analysed it yet, or older runs say
// almost every delivery is sent) estimates a handful of rows there and
// scans the run's whole backlog for every chunk — 14 ms per 100 deliveries
// at 100k instead of under 2 ms through the primary key.
const claimSQL = `
WITH c AS (
	UPDATE deliveries d SET state = 'sending', lease_until = now() + make_interval(secs => $2::float8),
		attempts = d.attempts + 1, updated_at = now()
	FROM runs r
	WHERE d.id = ANY($1) AND r.id = d.run_id AND r.state IN ('expanding', 'sending', 'waiting')
	  AND d.not_before <= now()
	  AND CASE WHEN d.run_id <> $3 THEN false
	           WHEN d.state = 'pending' THEN true
	           WHEN d.state = 'sending' THEN d.lease_until < now()
	           ELSE false END
	RETURNING d.id, d.run_id, d.alumni_id, d.attempts, r.version_id, r.campaign_id, r.number, r.kind
)
SELECT c.*, a.email, a.family_name, a.given_name, a.department, a.joined_on, a.left_on,
	a.locale, a.timezone, a.status,
	(a.email IS NULL OR EXISTS (SELECT 1 FROM suppressions s WHERE s.email_hash = sha256(convert_to(a.email, 'UTF8')))) AS suppressed
FROM c JOIN alumni a ON a.id = c.alumni_id
ORDER BY c.id`

// claim leases the claimable deliveries among ids.
func (w *Worker) claim(ctx context.Context, run int64, ids []int64) ([]claimed, error) {
	var out []claimed
	var err error
	for try := 0; try < 3; try++ {
		out = out[:0]
		err = sqlx.SelectContext(ctx, w.db, &out, claimSQL, pq.Int64Array(ids), w.opt.Lease.Seconds(), run)
		if !isDeadlock(err) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	return out, nil
}

// unqueue marks deliveries of a task that it could not claim as carried by
// no task, so the reconciler enqueues them when they are due (a paused run
// resumed, a retry whose time came).
func (w *Worker) unqueue(ctx context.Context, ids []int64) error {
	_, err := w.db.ExecContext(ctx, `UPDATE deliveries SET queued_until = NULL
		WHERE id = ANY($1) AND state = 'pending' AND queued_until IS NOT NULL`, pq.Int64Array(ids))
	if err != nil {
		return fmt.Errorf("unqueue deliveries: %w", err)
	}
	return nil
}

// handleSend processes one send task: claim, then per delivery check,
// render, send and record.
func (w *Worker) handleSend(ctx context.Context, t *asynq.Task) error {
	p, err := tasks.ParseSend(t.Payload())
	if err != nil {
		w.log.Error("dropping a malformed send task", "err", err)
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	log := w.log.With("run_id", p.Run)
	if w.isStopping() {
		// Leave the chunk to another worker.
		return w.unqueue(context.WithoutCancel(ctx), p.IDs)
	}
	cl, err := w.claim(ctx, p.Run, p.IDs)
	if err != nil {
		return err
	}
	if len(cl) < len(p.IDs) {
		got := make(map[int64]bool, len(cl))
		for _, c := range cl {
			got[c.ID] = true
		}
		var rest []int64
		for _, id := range p.IDs {
			if !got[id] {
				rest = append(rest, id)
			}
		}
		if err := w.unqueue(ctx, rest); err != nil {
			log.Warn("could not release unclaimed deliveries; the reconciler will", "err", err)
		}
	}
	if len(cl) == 0 {
		return nil
	}
	first := cl[0]
	run := runs.Run{ID: first.RunID, CampaignID: first.CampaignID, VersionID: first.VersionID, Number: first.RunNumber, Kind: first.RunKind}
	log = log.With("campaign_id", run.CampaignID)
	prep, err := w.cache.get(ctx, w.db, run, w.opt.Deps.Prepare)
	if err != nil {
		// Nothing of this run can be rendered: stop it and tell HR rather
		// than failing every recipient.
		reason := "cannot render the campaign: " + err.Error()
		log.Error("pausing run: "+reason, "err", err)
		if perr := runs.Pause(context.WithoutCancel(ctx), w.db, run.ID, reason); perr != nil && !errors.Is(perr, runs.ErrState) {
			log.Error("could not pause run", "err", perr)
		}
		return w.finish(ctx, log, run, w.releaseAll(cl), false)
	}
	s := &chunk{w: w, log: log, run: run, c: prep.c, r: prep.r, acks: make(chan error, len(cl))}
	final := s.process(ctx, cl)
	err = s.wait()
	if err == nil {
		s.afterRecord(ctx)
	}
	return w.finish(ctx, log, run, err, final)
}

// finish waits for nothing more than the outcome err of recording, and
// marks the run done when its last delivery was just recorded.
func (w *Worker) finish(ctx context.Context, log *slog.Logger, run runs.Run, err error, final bool) error {
	if err != nil {
		return fmt.Errorf("%w: %w", errRecord, err)
	}
	if final {
		if done, err := runs.FinishIfDone(context.WithoutCancel(ctx), w.db, run.ID); err != nil {
			log.Warn("could not check whether the run is done", "err", err)
		} else if done {
			log.Info("run done", "run", run.Number)
		}
	}
	return nil
}

// releaseAll gives every claimed delivery back untouched and waits for the
// record.
func (w *Worker) releaseAll(cl []claimed) error {
	acks := make(chan error, len(cl))
	for _, d := range cl {
		w.rec.submit(result{id: d.ID, alumni: d.AlumniID, state: statePending, attempts: -1, ack: acks})
	}
	var first error
	for range cl {
		if err := <-acks; err != nil && first == nil {
			first = err
		}
	}
	return first
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
	w    *Worker
	log  *slog.Logger
	run  runs.Run
	c    *campaigns.Campaign
	r    Renderer
	acks chan error
	n    int // results submitted

	// window is the earliest moment the send window opens again for a
	// delivery this chunk held back, and that delivery's time zone.
	window     time.Time
	windowZone string
	// tripped holds the replies that tripped the sender circuit breaker:
	// the run is paused once this chunk's results are recorded.
	tripped       []string
	trippedReason string
}

func (s *chunk) submit(r result) {
	r.ack = s.acks
	s.w.rec.submit(r)
	s.n++
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
		s.log.Error("ALERT: pausing run: "+s.trippedReason, "run", s.run.Number)
		if err := runs.PauseForSender(ctx, w.db, s.run.ID, s.trippedReason, s.tripped); err != nil && !errors.Is(err, runs.ErrState) {
			s.log.Error("could not pause run", "err", err)
		}
	}
	if !s.window.IsZero() {
		if err := runs.SetHold(ctx, w.db, s.run.ID, runs.Hold{Reason: runs.HoldWindow, Detail: s.windowZone, Until: s.window}); err != nil {
			s.log.Warn("could not record the run's wait for its window", "err", err)
		}
		if w.holdLog.take("window:"+strconv.FormatInt(s.run.ID, 10), time.Now()) {
			s.log.Info("deliveries wait for the send window", "run", s.run.Number,
				"opens", s.window.In(loadZone(s.windowZone)).Format("2006-01-02 15:04 MST"), "time_zone", s.windowZone)
		}
	}
}

// process sends the claimed deliveries; it reports whether any reached a
// final state (so the run may be done).
func (s *chunk) process(ctx context.Context, cl []claimed) (final bool) {
	w := s.w
	var snd Sender
	defer func() {
		if snd != nil {
			w.putSender(snd)
		}
	}()
	leaseAt := time.Now()
	domainHeld := 0 // deliveries of this chunk held back by their domain
	for i, d := range cl {
		if w.isStopping() || ctx.Err() != nil {
			s.release(cl[i:], time.Time{})
			return final
		}
		if time.Since(leaseAt) > w.opt.Lease/3 {
			s.extendLease(ctx, cl[i:])
			leaseAt = time.Now()
		}
		dlog := s.log.With("delivery_id", d.ID)
		// Suppression is checked again at send time: the person may have
		// unsubscribed or bounced since the run was expanded.
		if d.Status != "active" || d.Suppressed || !d.Email.Valid {
			s.submit(result{id: d.ID, alumni: d.AlumniID, state: stateSuppressed, reply: "suppressed: " + d.Status, attempts: -1})
			final = true
			continue
		}
		if win := s.c.Schedule.Window; win != nil && w.opt.Deps.Window != nil {
			if ok, next := w.opt.Deps.Window(win, d.TimeZone, time.Now()); !ok {
				if s.window.IsZero() || next.Before(s.window) {
					s.window, s.windowZone = next, zoneName(d.TimeZone)
				}
				s.submit(result{id: d.ID, alumni: d.AlumniID, state: statePending, notBefore: next, attempts: -1})
				continue
			}
		}
		// While the relay does not answer, one goroutine of the process
		// tries it at a time; the others give their deliveries back.
		if ok, at := w.gate.admit(time.Now()); !ok {
			s.release(cl[i:], at)
			return final
		}
		wait, ok := s.throttle(ctx, dlog, d)
		if !ok {
			w.gate.abandoned()
			if wait.WholeRun {
				if wait.Quota {
					s.heldByQuota(ctx, time.Now().Add(wait.RetryIn))
				}
				// Every other message of the run is held back too: give
				// them all back, spaced out at the limit's pace so they
				// do not all return at once.
				for k, rest := range cl[i:] {
					at := time.Now().Add(wait.RetryIn + time.Duration(k)*wait.Spacing)
					s.submit(result{id: rest.ID, alumni: rest.AlumniID, state: statePending, notBefore: at, attempts: -1})
				}
				return final
			}
			domainHeld++
			at := time.Now().Add(wait.RetryIn + time.Duration(domainHeld-1)*wait.Spacing)
			s.submit(result{id: d.ID, alumni: d.AlumniID, state: statePending, notBefore: at, attempts: -1})
			continue
		}
		rcp := Recipient{
			DeliveryID: d.ID, AlumniID: d.AlumniID, Email: d.Email.String, FamilyName: d.FamilyName,
			GivenName: d.GivenName, Department: d.Department, Locale: d.Locale, TimeZone: d.TimeZone,
		}
		if d.JoinedOn.Valid {
			rcp.JoinedOn = d.JoinedOn.Time
		}
		if d.LeftOn.Valid {
			rcp.LeftOn = d.LeftOn.Time
		}
		msg, err := s.r.Render(rcp)
		if err != nil {
			w.gate.abandoned()
			s.cancelReservation(ctx, wait)
			dlog.Warn("cannot render message; delivery failed", "err", err)
			s.submit(result{id: d.ID, alumni: d.AlumniID, state: stateFailed, reply: "render: " + err.Error()})
			final = true
			continue
		}
		if snd == nil {
			if snd, err = w.sender(); err != nil {
				dlog.Warn("cannot open a relay connection", "err", err)
				snd = nil
			}
		}
		var sendErr error
		if snd == nil {
			sendErr = err
		} else {
			sendErr = snd.Send(ctx, msg)
		}
		out := w.opt.Deps.Relay.Classify(sendErr)
		if out != Accepted {
			// Limits and quotas count what the relay accepted.
			s.cancelReservation(ctx, wait)
		}
		if out == RelayUnavailable {
			s.relayUnavailable(ctx, cl[i:], sendErr)
			return final
		}
		if ended, lasted := w.gate.answered(time.Now()); ended {
			s.log.Info("the relay answers again; sending carries on", "outage", lasted.Round(time.Second).String())
			if err := runs.ClearHolds(context.WithoutCancel(ctx), w.db, runs.HoldRelay); err != nil {
				s.log.Warn("could not clear the relay holds", "err", err)
			}
		}
		switch out {
		case Accepted:
			// Record at once, even if the task is being cancelled: the
			// relay has the message.
			reply := "250 accepted"
			if lr, ok := snd.(interface{ LastReply() string }); ok && lr.LastReply() != "" {
				reply = lr.LastReply()
			}
			s.submit(result{id: d.ID, alumni: d.AlumniID, state: stateSent, messageID: msg.MessageID, reply: reply})
			w.breaker.accepted(s.run.ID)
			final = true
		case Temporary:
			if d.Attempts >= w.opt.MaxAttempts {
				s.logFailure(dlog, "delivery failed after its last attempt", sendErr, "attempts", d.Attempts)
				s.submit(result{id: d.ID, alumni: d.AlumniID, state: stateFailed, reply: errText(sendErr)})
				final = true
			} else {
				next := time.Now().Add(w.opt.Deps.Relay.Backoff(d.Attempts))
				s.submit(result{id: d.ID, alumni: d.AlumniID, state: statePending, reply: errText(sendErr), notBefore: next})
			}
		case Permanent:
			reply := errText(sendErr)
			if replies := w.breaker.failed(s.run.ID, emailDomain(d.Email.String), reply); replies != nil {
				// The relay refuses everyone alike: a sender problem
				// that looks like a recipient's. This delivery and the
				// rest go back; the run pauses once they are recorded.
				s.tripped = replies
				s.trippedReason = fmt.Sprintf("the relay refused %d messages in a row to %d or more domains with the same reply, "+
					"which points at the sender, not the recipients: %s (fix the sender or relay account, then kizuna campaign resume %s)",
					w.opt.BreakerFailures, w.opt.BreakerDomains, reply, s.run.CampaignID)
				s.release(cl[i:], time.Time{})
				return final
			}
			s.logFailure(dlog, "delivery failed", sendErr)
			s.submit(result{id: d.ID, alumni: d.AlumniID, state: stateFailed, reply: reply})
			final = true
		case HardBounce:
			s.logFailure(dlog, "hard bounce: address suppressed", sendErr)
			s.submit(result{id: d.ID, alumni: d.AlumniID, state: stateFailed, reply: errText(sendErr), bounce: true, email: d.Email.String})
			final = true
		case SenderRejected:
			reason := w.opt.Deps.Relay.Explain(sendErr)
			s.log.Error("ALERT: pausing run: "+reason+" (fix the relay account or sender, then kizuna campaign resume "+s.run.CampaignID+")",
				"run", s.run.Number, "delivery_id", d.ID)
			if err := runs.Pause(context.WithoutCancel(ctx), w.db, s.run.ID, reason); err != nil && !errors.Is(err, runs.ErrState) {
				s.log.Error("could not pause run", "err", err)
			}
			s.release(cl[i:], time.Time{})
			return final
		}
	}
	return final
}

// relayUnavailable gives cl back without using up an attempt, to be tried
// when the relay gate next lets a probe through, and says so: in the run's
// hold (campaign status) and in the log at most once a minute, with an
// ALERT once the outage lasts longer than Options.RelayAlertAfter.
func (s *chunk) relayUnavailable(ctx context.Context, cl []claimed, sendErr error) {
	w := s.w
	why := w.opt.Deps.Relay.Explain(sendErr)
	o := w.gate.failed(time.Now(), why)
	s.release(cl, o.nextTry)
	if err := runs.SetHold(context.WithoutCancel(ctx), w.db, s.run.ID,
		runs.Hold{Reason: runs.HoldRelay, Detail: why, Since: o.since, Until: o.nextTry}); err != nil {
		s.log.Warn("could not record the relay outage on the run", "err", err)
	}
	down := time.Since(o.since).Round(time.Second)
	if o.log || o.first {
		s.log.Warn("the relay is unavailable; deliveries wait without using an attempt and sending carries on by itself when it answers",
			"reason", why, "down_for", down.String(), "next_try", o.nextTry.Format(time.RFC3339), "run", s.run.Number)
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
			"run", s.run.Number, "resumes_at", at.Format(time.RFC3339))
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
func (s *chunk) logFailure(dlog *slog.Logger, msg string, err error, args ...any) {
	ok, skipped := s.w.failLog.take(time.Now())
	if !ok {
		return
	}
	args = append(args, "run", s.run.Number, "reply", errText(err))
	if skipped > 0 {
		args = append(args, "not_logged_before", skipped)
	}
	dlog.Warn(msg, args...)
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
func (s *chunk) throttle(ctx context.Context, log *slog.Logger, d claimed) (Wait, bool) {
	th := s.w.opt.Deps.Throttle
	if th == nil {
		return Wait{}, true
	}
	for {
		wait, err := th(ctx, s.c, s.run, d.Email.String)
		if err != nil {
			log.Warn("throttle check failed; delivery waits", "err", err)
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

// release gives deliveries back untouched: same attempt count, due again
// at notBefore (zero: unchanged).
func (s *chunk) release(cl []claimed, notBefore time.Time) {
	for _, d := range cl {
		s.submit(result{id: d.ID, alumni: d.AlumniID, state: statePending, notBefore: notBefore, attempts: -1})
	}
}

// extendLease keeps the rest of a slow chunk this worker's.
func (s *chunk) extendLease(ctx context.Context, cl []claimed) {
	ids := make([]int64, len(cl))
	for i, d := range cl {
		ids[i] = d.ID
	}
	if _, err := s.w.db.ExecContext(ctx, `UPDATE deliveries SET lease_until = now() + make_interval(secs => $2::float8)
		WHERE id = ANY($1) AND state = 'sending'`, pq.Int64Array(ids), s.w.opt.Lease.Seconds()); err != nil {
		s.log.Warn("could not extend the lease", "err", err)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func isDeadlock(err error) bool {
	var pe *pq.Error
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}
