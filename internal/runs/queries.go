package runs

// The package's SQL, named. Every query here is prepared against the
// migrated schema by TestQueriesPrepare, so a typo fails at test time.
//
// activeStates is the SQL list of the run states whose deliveries may be
// sent (Run.Active); it is spelt out, not a parameter, so that the partial
// index runs_active_idx (migrations/0005) serves the queries.
const activeStates = `('expanding', 'sending', 'waiting')`

// liveLease is true for a delivery (alias d) whose chunk is leased now: an
// execution is sending it, so nothing may hand it out again.
const liveLease = `EXISTS (SELECT 1 FROM send_leases l WHERE l.chunk_id = d.chunk_id AND l.lease_until >= now())`

// qLeaseChunk takes a chunk's lease when it is free (no row) or expired,
// and returns its new expiry; no row when a live lease holds it (another
// execution is sending the chunk, or the reconciler is handing its
// deliveries out again). The ON CONFLICT takes the row's lock and judges
// the latest committed row, so two takers of one chunk, or a taker and
// qPickDue, go one after the other. $1 chunk id, $2 lease in seconds, $3
// the task's delivery ids (for qEndExpiredLeases).
const qLeaseChunk = `
INSERT INTO send_leases AS s (chunk_id, lease_until, delivery_ids)
VALUES ($1, now() + make_interval(secs => $2::float8), $3)
ON CONFLICT (chunk_id) DO UPDATE SET lease_until = EXCLUDED.lease_until, delivery_ids = EXCLUDED.delivery_ids
WHERE s.lease_until < now()
RETURNING s.lease_until`

// qClaim reads what sending needs of a leased chunk's claimable
// deliveries — pending, in this chunk (not handed out again since), of the
// task's run, of a run that may send, and due — and writes nothing:
// attempts is the count including this attempt. It runs after qLeaseChunk
// committed, in a snapshot that sees every hand-out committed before the
// lease was taken; while the lease lives, qPickDue moves none of them.
//
// Whether a row is claimable (of the task's run, pending) is one CASE on
// purpose: written as plain conditions, "run_id = $3 AND state =
// 'pending'" matches the partial index deliveries_open_idx, and a planner
// without fresh statistics for a run just expanded (autovacuum has not
// analysed it yet, or older runs say almost every delivery is sent)
// estimates a handful of rows there and scans the run's whole backlog for
// every chunk — 14 ms per 100 deliveries at 100k instead of under 2 ms
// through the primary key.
//
// $1 delivery ids, $2 chunk id, $3 the task's run id.
const qClaim = `
WITH c AS (
	SELECT d.id, d.run_id, d.chunk_id, d.alumni_id, d.attempts + 1 AS attempts, d.notice,
		r.version_id, r.campaign_id, r.number, r.kind
	FROM deliveries d JOIN runs r ON r.id = d.run_id
	WHERE d.id = ANY($1) AND r.state IN ` + activeStates + `
	  AND d.not_before <= now()
	  AND CASE WHEN d.run_id <> $3 OR d.chunk_id IS DISTINCT FROM $2 THEN false
	           WHEN d.state = 'pending' THEN true
	           ELSE false END
)
SELECT c.id, c.run_id, c.chunk_id, c.alumni_id, c.attempts, c.notice, c.version_id, c.campaign_id, c.number, c.kind,
	a.email, a.family_name, a.given_name, a.department, a.joined_on, a.left_on,
	a.locale, a.timezone, a.status, a.mail_kinds,
	(SELECT k.kind FROM campaigns k WHERE k.id = c.campaign_id) AS campaign_kind,
	(a.email IS NULL OR EXISTS (SELECT 1 FROM suppressions s WHERE s.email_hash = sha256(convert_to(a.email, 'UTF8')))) AS suppressed
FROM c JOIN alumni a ON a.id = c.alumni_id
ORDER BY c.id`

// qUnqueue hands pending deliveries back to the reconciler, except those
// of a chunk leased now (being sent). $1 ids.
const qUnqueue = `
UPDATE deliveries d SET queued_until = NULL
WHERE d.id = ANY($1) AND d.state = 'pending' AND d.queued_until IS NOT NULL AND NOT ` + liveLease

// qExtendLease extends a chunk's lease if it is still the one its holder
// took (its expiry is the holder's token) and returns the new expiry: $1
// chunk id, $2 the lease's current expiry, $3 lease in seconds.
const qExtendLease = `
UPDATE send_leases SET lease_until = now() + make_interval(secs => $3::float8)
WHERE chunk_id = $1 AND lease_until = $2
RETURNING lease_until`

// qEndChunk ends a chunk's lease (if it is still the holder's) and hands
// the deliveries of the chunk that the claim did not get back to the
// reconciler: $1 chunk id, $2 the lease's expiry, $3 delivery ids.
const qEndChunk = `
WITH gone AS (
	DELETE FROM send_leases WHERE chunk_id = $1 AND lease_until = $2 RETURNING chunk_id
)
UPDATE deliveries d SET queued_until = NULL
WHERE d.id = ANY($3) AND d.chunk_id = $1 AND d.state = 'pending' AND d.queued_until IS NOT NULL
  AND EXISTS (SELECT 1 FROM gone)`

// qRecord writes a batch of results: $1 ids, $2 states, $3 message ids
// (empty keeps the stored one), $4 replies, $5 not_before (empty keeps it),
// $6 attempts to add (1 for a charged result, 0 for an uncharged one), $7
// the chunk each result's claim came from. A sent result is written
// whatever happened meanwhile; any other only while the delivery is still
// pending in that chunk (one handed out again is another chunk's).
const qRecord = `
UPDATE deliveries d SET
	state = v.state,
	message_id = coalesce(nullif(v.message_id, ''), d.message_id),
	smtp_reply = v.reply,
	sent_at = CASE WHEN v.state = 'sent' THEN now() ELSE d.sent_at END,
	not_before = coalesce(nullif(v.not_before, '')::timestamptz, d.not_before),
	attempts = d.attempts + v.attempts,
	lease_until = NULL,
	queued_until = NULL,
	updated_at = now()
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::bigint[])
	AS v(id, state, message_id, reply, not_before, attempts, chunk_id)
WHERE d.id = v.id
  AND ((d.state = 'pending' AND d.chunk_id = v.chunk_id) OR (v.state = 'sent' AND d.state <> 'sent'))`

// qRecordBounces: $1 delivery ids, $2 the relay's replies.
const qRecordBounces = `
INSERT INTO delivery_events (delivery_id, kind, classification, detail)
SELECT id, 'bounce', 'smtp', jsonb_build_object('smtp_reply', reply, 'type', 'hard')
FROM unnest($1::bigint[], $2::text[]) AS b(id, reply)`

// qReconcileLock is the advisory lock that lets one reconciler act at a
// time, whichever worker it runs in ("kizuna-reconcile"); qReconcileUnlock
// releases it.
const (
	qReconcileLock   = `SELECT pg_try_advisory_lock(30252454253916014)`
	qReconcileUnlock = `SELECT pg_advisory_unlock(30252454253916014)`
)

// qForgetAllTasks: Redis lost its data, so no queued task survives.
// Deliveries of a chunk leased now are being sent: they stay.
const qForgetAllTasks = `
UPDATE deliveries d SET queued_until = NULL
WHERE d.state = 'pending' AND d.queued_until IS NOT NULL AND NOT ` + liveLease

// qForgetStaleTasks: tasks whose slack ran out vanished without Redis
// losing its data. Only due deliveries matter (those not due get a task
// when they are), which also lets the partial index on not_before serve.
// Deliveries of a chunk leased now are being sent: they stay.
const qForgetStaleTasks = `
UPDATE deliveries d SET queued_until = NULL
WHERE d.state = 'pending' AND d.queued_until < now() AND d.not_before <= now() AND NOT ` + liveLease

// qEndExpiredLeases deletes the expired chunk leases (a worker died, or
// overran its lease, holding the chunk; and the rows qPickDue leaves) and
// hands the pending deliveries of those chunks that a task carried back to
// the reconciler, through the primary key (the row keeps the task's ids).
const qEndExpiredLeases = `
WITH gone AS (
	DELETE FROM send_leases WHERE lease_until < now() RETURNING chunk_id, delivery_ids
)
UPDATE deliveries d SET queued_until = NULL
FROM (SELECT g.chunk_id, unnest(g.delivery_ids) AS id FROM gone g) x
WHERE d.id = x.id AND d.chunk_id = x.chunk_id AND d.state = 'pending' AND d.queued_until IS NOT NULL`

// qUnexpandedRuns lists the runs whose expansion has not finished.
const qUnexpandedRuns = `
SELECT id FROM runs WHERE expanded_at IS NULL AND state IN ('expanding', 'paused') ORDER BY id`

// qPickDue hands out up to $1 due deliveries that no task carries: it
// marks them queued for $2 seconds and puts them in new chunks of at most
// $3 per run (one nextval of delivery_chunks_seq per chunk), and returns
// them with their chunk, by run and chunk. SKIP LOCKED: a record in
// progress is not waited for.
//
// A delivery is only moved out of its old chunk once this statement holds
// that chunk's lease row and found it free or expired (the revoked CTE: an
// upsert that takes the row's lock and sets the expiry to -infinity, so
// that a holder whose lease ran out cannot extend it any more: qExtendLease
// matches the expiry the holder knows, and it no longer does). A claim takes the
// same row first (qLeaseChunk) and reads the chunk's deliveries only
// afterwards, so either the claim's lease is live here and the delivery
// stays where it is, or the claim's read sees it moved: never both. The
// NOT EXISTS only spares the upsert the chunks leased long ago.
const qPickDue = `
WITH picked AS (
	SELECT d.id, d.run_id, d.chunk_id AS old_chunk FROM deliveries d
	WHERE d.state = 'pending' AND d.queued_until IS NULL AND d.not_before <= now()
	  AND EXISTS (SELECT 1 FROM runs r WHERE r.id = d.run_id AND r.state IN ` + activeStates + `)
	  AND NOT ` + liveLease + `
	ORDER BY d.not_before
	LIMIT $1
	FOR UPDATE OF d SKIP LOCKED
), revoked AS (
	INSERT INTO send_leases AS s (chunk_id, lease_until)
	SELECT DISTINCT old_chunk, '-infinity'::timestamptz FROM picked WHERE old_chunk IS NOT NULL
	ORDER BY 1
	ON CONFLICT (chunk_id) DO UPDATE SET lease_until = '-infinity'
	WHERE s.lease_until < now()
	RETURNING s.chunk_id
), numbered AS (
	SELECT p.id, p.run_id, (row_number() OVER (PARTITION BY p.run_id ORDER BY p.id) - 1) / $3 AS k
	FROM picked p
	WHERE p.old_chunk IS NULL OR p.old_chunk IN (SELECT chunk_id FROM revoked)
), chunks AS (
	SELECT x.run_id, x.k, nextval('delivery_chunks_seq') AS chunk_id
	FROM (SELECT DISTINCT run_id, k FROM numbered) x
)
UPDATE deliveries d SET queued_until = now() + make_interval(secs => $2::float8), chunk_id = c.chunk_id
FROM numbered n JOIN chunks c ON c.run_id = n.run_id AND c.k = n.k
WHERE d.id = n.id
RETURNING d.id, d.run_id, d.chunk_id, (SELECT r.kind FROM runs r WHERE r.id = d.run_id) AS run_kind`

// qMarkWaiting: a run whose every remaining delivery waits for its window
// (or a long throttle) shows as waiting, and as sending again once some
// are due within the minute. Its next due time is one probe of
// deliveries_open_idx (run_id, not_before) per active run.
const qMarkWaiting = `
UPDATE runs r SET state = CASE r.state WHEN 'sending' THEN 'waiting' ELSE 'sending' END
FROM (
	SELECT x.id AS run_id,
		(SELECT min(d.not_before) FROM deliveries d WHERE d.run_id = x.id AND d.state IN ('pending', 'sending')) AS next
	FROM runs x
	WHERE x.state IN ('sending', 'waiting') AND x.expanded_at IS NOT NULL
) o
WHERE r.id = o.run_id AND (
	(r.state = 'sending' AND o.next > now() + interval '1 minute') OR
	(r.state = 'waiting' AND o.next <= now() + interval '1 minute'))`

// qExpandedActiveRuns lists the runs that may be done.
const qExpandedActiveRuns = `
SELECT id FROM runs WHERE state IN ('sending', 'waiting') AND expanded_at IS NOT NULL`

// qUpsertCampaign registers a campaign id: $1 id, $2 kind, $3 file.
const qUpsertCampaign = `
INSERT INTO campaigns (id, kind, file) VALUES ($1, $2, $3)
ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, file = EXCLUDED.file, updated_at = now()
WHERE (campaigns.kind, campaigns.file) IS DISTINCT FROM (EXCLUDED.kind, EXCLUDED.file)`

// qCurrentVersionForUpdate locks the campaign row (serialising registrations, answers and promotions of one campaign, like qLockEventCampaign) and returns its current version: $1 campaign id.
const qCurrentVersionForUpdate = `
SELECT v.id, v.digest, v.event_sequence, v.definition
FROM campaigns c LEFT JOIN campaign_versions v ON v.id = c.current_version_id
WHERE c.id = $1 FOR NO KEY UPDATE OF c`

// qInsertVersion stores a version, or finds the one with the same key (runs.versionKey): $1 campaign id, $2 key, $3 definition, $4 event SEQUENCE.
const qInsertVersion = `
INSERT INTO campaign_versions (campaign_id, digest, definition, event_sequence)
VALUES ($1, $2, $3, $4)
ON CONFLICT (campaign_id, digest) DO UPDATE
	SET event_sequence = campaign_versions.event_sequence -- a stored version never changes; this returns its id
RETURNING id`

// qSetCurrentVersion: $1 campaign id, $2 version id.
const qSetCurrentVersion = `UPDATE campaigns SET current_version_id = $2 WHERE id = $1`

// qCurrentVersionID: $1 campaign id.
const qCurrentVersionID = `SELECT current_version_id FROM campaigns WHERE id = $1`

// qLoadVersion: $1 version id.
const qLoadVersion = `SELECT definition, event_sequence FROM campaign_versions WHERE id = $1`

// qVersionCampaign: $1 version id.
const qVersionCampaign = `SELECT campaign_id FROM campaign_versions WHERE id = $1`

// qLockRunCreation serialises run creation per campaign, so that numbers are dense and the occurrence check cannot race another scheduler: $1 campaign id.
const qLockRunCreation = `SELECT pg_advisory_xact_lock(hashtextextended('kizuna-run:' || $1, 0))`

// qRunByOccurrence: $1 campaign id, $2 occurrence.
const qRunByOccurrence = `SELECT ` + runColumns + ` FROM runs WHERE campaign_id = $1 AND occurrence = $2`

// qInsertRun numbers the run after the campaign's last: $1 campaign id, $2 version id, $3 kind, $4 occurrence.
const qInsertRun = `
INSERT INTO runs (campaign_id, version_id, number, kind, occurrence)
SELECT $1, $2, coalesce(max(number), 0) + 1, $3, $4 FROM runs WHERE campaign_id = $1
RETURNING ` + runColumns

// qRunByID: $1 run id.
const qRunByID = `SELECT ` + runColumns + ` FROM runs WHERE id = $1`

// qRunsOfCampaign: $1 campaign id.
const qRunsOfCampaign = `SELECT ` + runColumns + ` FROM runs WHERE campaign_id = $1 ORDER BY number`

// qPause: $1 run id, $2 reason.
const qPause = `
UPDATE runs SET state = 'paused', pause_reason = $2
WHERE id = $1 AND state IN ` + activeStates

// qResume: $1 run id.
const qResume = `
UPDATE runs SET state = CASE WHEN expanded_at IS NULL THEN 'expanding' ELSE 'sending' END, pause_reason = ''
WHERE id = $1 AND state = 'paused'`

// qUnqueueRun hands a run's queued pending deliveries back to the
// reconciler, except those of a chunk leased now (being sent): $1 run id.
const qUnqueueRun = `
UPDATE deliveries d SET queued_until = NULL
WHERE d.run_id = $1 AND d.state = 'pending' AND d.queued_until IS NOT NULL AND NOT ` + liveLease

// qForgetRequeueReplies: $1 run id.
const qForgetRequeueReplies = `DELETE FROM run_requeue_replies WHERE run_id = $1`

// qCancel: $1 run id.
const qCancel = `
UPDATE runs SET state = 'cancelled', finished_at = now()
WHERE id = $1 AND state IN ('expanding', 'sending', 'waiting', 'paused')`

// qCancelPending cancels the deliveries of a cancelled run not yet handed to the relay: $1 run id.
const qCancelPending = `
UPDATE deliveries SET state = 'cancelled', lease_until = NULL, queued_until = NULL, updated_at = now()
WHERE run_id = $1 AND state = 'pending'`

// qFinishIfDone marks an expanded active run done when none of its deliveries is open: $1 run id.
const qFinishIfDone = `
UPDATE runs SET state = 'done', finished_at = now()
WHERE id = $1 AND state IN ('sending', 'waiting') AND expanded_at IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM deliveries WHERE run_id = $1 AND state IN ('pending', 'sending'))`

// qReopenIfNotDone reopens a run that qFinishIfDone closed while a retry put deliveries back: $1 run id.
const qReopenIfNotDone = `
UPDATE runs SET state = 'sending', finished_at = NULL
WHERE id = $1 AND state = 'done'
  AND EXISTS (SELECT 1 FROM deliveries WHERE run_id = $1 AND state IN ('pending', 'sending'))`

// qSetHold: $1 run id, $2 reason, $3 detail, $4 until, $5 since (NULL: now); since is kept while the reason stays.
const qSetHold = `
INSERT INTO run_holds AS h (run_id, reason, detail, until, since) VALUES ($1, $2, $3, $4, coalesce($5, now()))
ON CONFLICT (run_id) DO UPDATE SET reason = excluded.reason, detail = excluded.detail, until = excluded.until,
	since = CASE WHEN h.reason = excluded.reason THEN h.since ELSE excluded.since END`

// qClearHolds: $1 reason.
const qClearHolds = `DELETE FROM run_holds WHERE reason = $1`

// qAddRequeueReplies: $1 run id, $2 replies.
const qAddRequeueReplies = `
INSERT INTO run_requeue_replies (run_id, reply) SELECT $1, unnest($2::text[])
ON CONFLICT DO NOTHING`

// qRequeueFailed puts a run's deliveries that failed with one of its run_requeue_replies back to pending (never hard bounces): $1 run id.
const qRequeueFailed = `
UPDATE deliveries d SET state = 'pending', attempts = 0, not_before = now(), queued_until = NULL,
	lease_until = NULL, updated_at = now()
FROM run_requeue_replies q
WHERE q.run_id = $1 AND d.run_id = $1 AND d.state = 'failed' AND d.smtp_reply = q.reply
  AND NOT EXISTS (SELECT 1 FROM delivery_events e WHERE e.delivery_id = d.id AND e.kind = 'bounce')`

// qFailures lists a run's failed deliveries, oldest first: see Failures.
const qFailures = `
SELECT d.id, a.email, d.updated_at AS at, d.attempts, d.smtp_reply, ` + hardBounceCond + ` AS hard_bounce
FROM deliveries d JOIN alumni a ON a.id = d.alumni_id
WHERE d.run_id = $1 AND d.state = 'failed'
ORDER BY d.updated_at, d.id
LIMIT $2`

// qRetry puts the retryable failed deliveries of a run back to pending: see Retry.
const qRetry = `
WITH f AS (
	SELECT d.id,
	       CASE WHEN a.status = 'bounced' OR ` + hardBounceCond + ` THEN 'bounced'
	            WHEN a.status = 'unsubscribed' THEN 'unsubscribed'
	            WHEN a.status <> 'active' OR a.email IS NULL
	              OR EXISTS (SELECT 1 FROM suppressions s WHERE s.email_hash = sha256(convert_to(a.email, 'UTF8'))) THEN 'suppressed'
	            ELSE '' END AS skip
	FROM deliveries d JOIN alumni a ON a.id = d.alumni_id
	WHERE d.run_id = $1 AND d.state = 'failed'
	FOR UPDATE OF d
), u AS (
	UPDATE deliveries d SET state = 'pending', attempts = 0, not_before = now(),
lease_until = NULL, queued_until = NULL, updated_at = now()
	FROM f WHERE d.id = f.id AND f.skip = ''
	RETURNING d.id
)
SELECT f.skip, count(*) FROM f GROUP BY f.skip`

// qLockRunState: $1 run id.
const qLockRunState = `SELECT state FROM runs WHERE id = $1 FOR UPDATE`

// qReopen: $1 run id.
const qReopen = `UPDATE runs SET state = 'sending', finished_at = NULL WHERE id = $1`

const runColumns = `id, campaign_id, version_id, number, kind, occurrence, state, pause_reason, started_at, expanded_at, finished_at`

// statusQuery counts per run in one statement. Opened counts recipients
// with an open not flagged as a machine's (privacy proxies, scanners) or a
// click not flagged as a scanner's (a click implies an open); clicked
// counts recipients with a click not flagged as a scanner's. Machine opens
// and scanner clicks are counted apart (recipients with at least one).
// Replied counts recipients with a reply event (a human reply by mail);
// bounced those with a hard bounce (at the relay or returned later: a soft
// bounce only counts towards the soft limit, and a returned message that
// rejects the sender, type sender, is not the recipient's bounce at all).
// The RSVP counts are the current answers of the run's recipients, whichever
// mail carried the answer (the invitation, a reminder, a confirmation): yes
// counts the guests only, waitlisted the "yes" beyond capacity.
const statusQuery = `
SELECT r.id, r.number, r.kind, r.started_at, r.state, r.pause_reason,
       CASE WHEN r.state IN ` + activeStates + `
             AND h.until > now() - CASE h.reason WHEN 'relay' THEN make_interval(secs => $2::float8) ELSE interval '0' END
            THEN h.reason ELSE '' END AS hold_reason,
       coalesce(h.detail, '') AS hold_detail, h.since AS hold_since, h.until AS hold_until,
       coalesce(d.total, 0) AS total, coalesce(d.pending, 0) AS pending, coalesce(d.sent, 0) AS sent,
       coalesce(d.failed, 0) AS failed, coalesce(d.suppressed, 0) AS suppressed,
       coalesce(e.opened, 0) AS opened, coalesce(e.clicked, 0) AS clicked,
       coalesce(e.machine_opens, 0) AS machine_opens, coalesce(e.scanner_clicks, 0) AS scanner_clicks,
       coalesce(e.unsubscribed, 0) AS unsubscribed, coalesce(e.replied, 0) AS replied,
       coalesce(e.bounced, 0) AS bounced,
       coalesce(v.yes, 0) AS rsvp_yes, coalesce(v.no, 0) AS rsvp_no, coalesce(v.maybe, 0) AS rsvp_maybe,
       coalesce(v.waitlisted, 0) AS waitlisted
FROM runs r
LEFT JOIN run_holds h ON h.run_id = r.id
LEFT JOIN LATERAL (
	SELECT count(*) AS total,
	       count(*) FILTER (WHERE state IN ('pending', 'sending')) AS pending,
	       count(*) FILTER (WHERE state = 'sent') AS sent,
	       count(*) FILTER (WHERE state = 'failed') AS failed,
	       count(*) FILTER (WHERE state = 'suppressed') AS suppressed
	FROM deliveries WHERE run_id = r.id
) d ON true
LEFT JOIN LATERAL (
	SELECT count(DISTINCT dd.alumni_id) FILTER (WHERE (ev.kind = 'open' AND ev.classification IN ('human', 'unknown'))
	                                                  OR (ev.kind = 'click' AND ev.classification <> 'scanner')) AS opened,
	       count(DISTINCT dd.alumni_id) FILTER (WHERE ev.kind = 'click' AND ev.classification <> 'scanner') AS clicked,
	       count(DISTINCT dd.alumni_id) FILTER (WHERE ev.kind = 'open' AND ev.classification NOT IN ('human', 'unknown')) AS machine_opens,
	       count(DISTINCT dd.alumni_id) FILTER (WHERE ev.kind = 'click' AND ev.classification = 'scanner') AS scanner_clicks,
	       count(DISTINCT dd.alumni_id) FILTER (WHERE ev.kind = 'unsubscribe') AS unsubscribed,
	       count(DISTINCT dd.alumni_id) FILTER (WHERE ev.kind = 'reply') AS replied,
	       count(DISTINCT dd.alumni_id) FILTER (WHERE ev.kind = 'bounce' AND coalesce(ev.detail->>'type', 'hard') = 'hard') AS bounced
	FROM delivery_events ev JOIN deliveries dd ON dd.id = ev.delivery_id
	WHERE dd.run_id = r.id
) e ON true
LEFT JOIN LATERAL (
	SELECT count(*) FILTER (WHERE rv.answer = 'yes' AND NOT rv.waitlisted) AS yes,
	       count(*) FILTER (WHERE rv.answer = 'no') AS no,
	       count(*) FILTER (WHERE rv.answer = 'maybe') AS maybe,
	       count(*) FILTER (WHERE rv.answer = 'yes' AND rv.waitlisted) AS waitlisted
	FROM rsvps rv
	WHERE rv.campaign_id = r.campaign_id
	  AND EXISTS (SELECT 1 FROM deliveries dv WHERE dv.run_id = r.id AND dv.alumni_id = rv.alumni_id)
) v ON true
WHERE r.campaign_id = $1
ORDER BY r.number`

// hardBounceCond is true for a delivery (alias d) that bounced hard: the
// worker records a 'bounce' event of type hard (worker/recorder.go); an
// event without a type is taken as hard, one typed soft or sender is not.
const hardBounceCond = `EXISTS (SELECT 1 FROM delivery_events e WHERE e.delivery_id = d.id AND e.kind = 'bounce'
	AND coalesce(e.detail->>'type', 'hard') = 'hard')`

// qOccurrenceExists: $1 campaign id, $2 occurrence.
const qOccurrenceExists = `SELECT EXISTS (SELECT 1 FROM runs WHERE campaign_id = $1 AND occurrence = $2)`

// qCampaignHasRuns: $1 campaign id.
const qCampaignHasRuns = `SELECT EXISTS (SELECT 1 FROM runs WHERE campaign_id = $1)`

// qtExpandSlice writes the deliveries of the next slice of a run's
// audience, in chunks of at most $5 deliveries (in alumni order; one
// nextval of delivery_chunks_seq per chunk), and returns the last alumnus
// it looked at (cursor) and the new deliveries' ids with the chunk of
// each, ordered by chunk then id. A template: %s is the audience's boolean
// condition over alumni a (AudienceFilter, or the reminder's RSVP
// condition), with its own placeholders from $6. $1 run id, $2 cursor
// (last alumni id done), $3 slice size, $4 queue slack in seconds (0: no
// task will carry them), $5 chunk size.
const qtExpandSlice = `
WITH cand AS (
	SELECT a.id FROM alumni a
	WHERE a.id > $2
	  AND a.status = 'active' AND a.email IS NOT NULL
	  AND NOT EXISTS (SELECT 1 FROM suppressions s WHERE s.email_hash = sha256(convert_to(a.email, 'UTF8')))
	  AND EXISTS (SELECT 1 FROM runs r WHERE r.id = $1 AND r.state <> 'cancelled')
	  AND (%s)
	ORDER BY a.id
	LIMIT $3
), num AS (
	SELECT cand.id, (row_number() OVER (ORDER BY cand.id) - 1) / $5 AS k FROM cand
), chunks AS (
	SELECT x.k, nextval('delivery_chunks_seq') AS chunk_id FROM (SELECT DISTINCT k FROM num) x
), ins AS (
	INSERT INTO deliveries (run_id, alumni_id, chunk_id, queued_until)
	SELECT $1, num.id, chunks.chunk_id, CASE WHEN $4::float8 > 0 THEN now() + make_interval(secs => $4::float8) END
	FROM num JOIN chunks ON chunks.k = num.k
	ON CONFLICT (run_id, alumni_id, notice_seq) DO NOTHING
	RETURNING id, chunk_id
)
SELECT (SELECT max(id) FROM cand) AS cursor,
       coalesce((SELECT array_agg(id ORDER BY chunk_id, id) FROM ins), '{}') AS ids,
       coalesce((SELECT array_agg(chunk_id ORDER BY chunk_id, id) FROM ins), '{}') AS chunks`

// qExpansionLock waits for the session lock that lets one expander work on a run: $1 the lock's name.
const qExpansionLock = `SELECT pg_advisory_lock(hashtextextended($1, 0))`

// qExpansionTryLock takes the expansion lock if it is free: $1 the lock's name.
const qExpansionTryLock = `SELECT pg_try_advisory_lock(hashtextextended($1, 0))`

// qExpansionUnlock: $1 the lock's name.
const qExpansionUnlock = `SELECT pg_advisory_unlock(hashtextextended($1, 0))`

// qDeliveryCount: $1 run id.
const qDeliveryCount = `SELECT count(*) FROM deliveries WHERE run_id = $1`

// qExpansionCursor is the last alumnus whose delivery was written: slices
// commit in alumni id order. $1 run id.
const qExpansionCursor = `SELECT coalesce(max(alumni_id), 0) FROM deliveries WHERE run_id = $1`

// qExpanded marks a run's expansion complete: $1 run id.
const qExpanded = `
UPDATE runs SET expanded_at = now(), state = CASE WHEN state = 'expanding' THEN 'sending' ELSE state END
WHERE id = $1 AND expanded_at IS NULL`

// qCampaignExists: $1 campaign id.
const qCampaignExists = `SELECT EXISTS (SELECT 1 FROM campaigns WHERE id = $1)`

// qCampaigns lists every campaign with its current version, last run number
// and last manual start.
const qCampaigns = `
SELECT c.id, c.kind,
       c.current_version_id AS version_id,
       (SELECT max(r.number) FROM runs r WHERE r.campaign_id = c.id) AS last_run,
       (SELECT max(r.started_at) FROM runs r WHERE r.campaign_id = c.id AND r.occurrence LIKE 'manual:%') AS last_manual
FROM campaigns c ORDER BY c.id`

// qHistory: what happened with an alumnus ($1 alumni id): deliveries, their
// events and RSVPs, oldest first. A bounce gives its type (hard | soft),
// its reason (user_unknown, mailbox_full, …: internal/inbound/classify)
// and the relay's reply or the returned message's status and diagnostic;
// a reply and an automatic reply their subject.
const qHistory = `
SELECT type, at, campaign_id, run, state, classification, target, answer, waitlisted, reply, subject, reason FROM (
    SELECT 'delivery' AS type,
           CASE WHEN d.state = 'sent' THEN d.sent_at
                WHEN d.state IN ('failed', 'suppressed', 'cancelled') THEN d.updated_at END AS at,
           r.campaign_id, r.number AS run, d.state,
           '' AS classification, '' AS target, '' AS answer, NULL::boolean AS waitlisted, d.smtp_reply AS reply,
           '' AS subject, '' AS reason, d.id AS ord
    FROM deliveries d JOIN runs r ON r.id = d.run_id
    WHERE d.alumni_id = $1
    UNION ALL
    SELECT e.kind, e.created_at, r.campaign_id, r.number, '',
           CASE WHEN e.kind IN ('open', 'click') THEN e.classification
                WHEN e.kind = 'bounce' THEN coalesce(e.detail->>'type', 'hard') ELSE '' END,
           e.target, '', NULL,
           CASE WHEN e.kind = 'bounce' THEN coalesce(e.detail->>'smtp_reply',
                    trim(coalesce(e.detail->>'status', '') || ' ' || coalesce(e.detail->>'diagnostic', '')))
                ELSE '' END,
           CASE WHEN e.kind IN ('reply', 'auto_reply') THEN coalesce(e.detail->>'subject', '') ELSE '' END,
           CASE WHEN e.kind = 'bounce' THEN coalesce(e.detail->>'reason', '') ELSE '' END, e.id
    FROM delivery_events e JOIN deliveries d ON d.id = e.delivery_id JOIN runs r ON r.id = d.run_id
    WHERE d.alumni_id = $1
    UNION ALL
    SELECT 'rsvp', v.answered_at, v.campaign_id, NULL, '', '', '', v.answer, v.waitlisted, '', '', '', 0
    FROM rsvps v WHERE v.alumni_id = $1
) h
ORDER BY at NULLS LAST, ord`

// qEraseEvents and qEraseDeliveries remove what identifies a person from
// their deliveries' records ($1 alumni id, $2 now): events lose the IP, user
// agent, reply text and clicked URL with its query (a bounce keeps only
// its type, so that a soft or sender-side one is not counted as hard
// afterwards); deliveries lose the relay's reply, which often quotes the
// address.
const (
	qEraseEvents = `
UPDATE delivery_events SET ip = NULL, user_agent = '', target = '',
	detail = CASE WHEN kind = 'bounce' AND detail ? 'type' THEN jsonb_build_object('type', detail->'type') ELSE '{}' END
WHERE delivery_id IN (SELECT id FROM deliveries WHERE alumni_id = $1)`
	qEraseDeliveries = `UPDATE deliveries SET smtp_reply = '', updated_at = $2 WHERE alumni_id = $1`
)

// qDeliveryRecipient reads who a delivery went to and what it was, for the
// unsubscribe page: $1 delivery id.
const qDeliveryRecipient = `
SELECT d.id AS delivery_id, d.run_id, d.alumni_id, a.email, a.locale, a.status, a.mail_kinds,
	r.campaign_id, r.number AS run_number, r.version_id, c.kind AS campaign_kind,
	EXISTS (SELECT 1 FROM delivery_events e WHERE e.delivery_id = d.id AND e.kind = 'unsubscribe') AS unsubscribed
FROM deliveries d
JOIN runs r ON r.id = d.run_id
JOIN campaigns c ON c.id = r.campaign_id
JOIN alumni a ON a.id = d.alumni_id
WHERE d.id = $1`

// qLockDeliveryForEvent locks a delivery's row so that two unsubscribe
// requests for it are recorded one after the other: $1 delivery id.
const qLockDeliveryForEvent = `SELECT id FROM deliveries WHERE id = $1 FOR UPDATE`

// qAddUnsubscribeEvent records an unsubscribe on a delivery unless it has
// one already (run after qLockDeliveryForEvent in the same transaction):
// $1 delivery id, $2 detail (jsonb).
const qAddUnsubscribeEvent = `
INSERT INTO delivery_events (delivery_id, kind, classification, detail)
SELECT $1, 'unsubscribe', 'human', $2::jsonb
WHERE NOT EXISTS (SELECT 1 FROM delivery_events WHERE delivery_id = $1 AND kind = 'unsubscribe')`

// qLockEventDeliveries serialises the recording of clicks per delivery
// across servers (Postgres advisory locks, released at commit), so that
// the "several links at once" rule of qRecordEvents sees the clicks
// another server just committed. Deliveries share 128 lock buckets (id mod
// 128), taken in order; the first key names the namespace. $1 delivery ids.
const qLockEventDeliveries = `
SELECT count(*) FROM (
	SELECT pg_advisory_xact_lock(1802071406, k)
	FROM (SELECT DISTINCT (id % 128)::int AS k FROM unnest($1::bigint[]) AS u(id) ORDER BY 1) s
) l`

// qRecordEvents records opens and clicks; an event of a delivery that does
// not exist is dropped. A click is flagged as a scanner's (classification
// scanner, detail.flag) when it comes less than $9 seconds after its
// delivery was sent ("soon_after_delivery"), or when another link of the
// same delivery was clicked within $10 seconds of it, in this batch or
// already recorded ("several_links"; the earlier clicks are flagged too).
// $1 delivery ids, $2 kinds (open|click), $3 classifications, $4 targets,
// $5 link indexes (-1 for opens), $6 IPs (empty: unknown), $7 user agents, $8
// times (RFC 3339), $9 scanner delay in seconds, $10 burst window in
// seconds, $11 flags already known (empty: none).
const qRecordEvents = `
WITH ev AS (
	SELECT e.*, d.sent_at
	FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::text[],
	            $8::timestamptz[], $11::text[])
	     AS e(delivery_id, kind, classification, target, link, ip, user_agent, at, flag)
	JOIN deliveries d ON d.id = e.delivery_id
), flagged AS (
	SELECT ev.*,
	       CASE WHEN ev.kind <> 'click' THEN ev.flag
	            WHEN ev.flag <> '' THEN ev.flag
	            WHEN ev.sent_at IS NOT NULL AND ev.at < ev.sent_at + make_interval(secs => $9::float8)
	                 THEN 'soon_after_delivery'
	            WHEN EXISTS (SELECT 1 FROM ev o WHERE o.delivery_id = ev.delivery_id AND o.kind = 'click'
	                           AND o.link <> ev.link AND o.at BETWEEN ev.at - make_interval(secs => $10::float8)
	                                                             AND ev.at + make_interval(secs => $10::float8))
	              OR EXISTS (SELECT 1 FROM delivery_events p WHERE p.delivery_id = ev.delivery_id AND p.kind = 'click'
	                           AND p.detail->>'link' <> ev.link::text
	                           AND p.created_at BETWEEN ev.at - make_interval(secs => $10::float8)
	                                                AND ev.at + make_interval(secs => $10::float8))
	                 THEN 'several_links'
	            ELSE '' END AS reason
	FROM ev
), ins AS (
	INSERT INTO delivery_events (delivery_id, kind, classification, target, detail, ip, user_agent, created_at)
	SELECT f.delivery_id, f.kind,
	       CASE WHEN f.kind = 'click' AND f.reason <> '' THEN 'scanner' ELSE f.classification END,
	       f.target,
	       CASE WHEN f.kind = 'click' THEN jsonb_build_object('link', f.link) ELSE '{}'::jsonb END
	         || CASE WHEN f.reason <> '' THEN jsonb_build_object('flag', f.reason) ELSE '{}'::jsonb END,
	       NULLIF(f.ip, '')::inet, f.user_agent, f.at
	FROM flagged f
	RETURNING 1
)
UPDATE delivery_events p
SET classification = 'scanner', detail = p.detail || '{"flag": "several_links"}'::jsonb
FROM flagged f
WHERE f.kind = 'click' AND p.delivery_id = f.delivery_id AND p.kind = 'click'
  AND p.classification <> 'scanner' AND p.detail->>'link' <> f.link::text
  AND p.created_at BETWEEN f.at - make_interval(secs => $10::float8) AND f.at + make_interval(secs => $10::float8)`

// qQueueDepth counts the deliveries due and not yet sent — pending, or
// being sent under a lease — in runs that may send (a paused run's
// backlog is not waiting on the workers). The partial index
// deliveries_open_idx (run_id, not_before) serves it per active run.
const qQueueDepth = `
SELECT count(*) FROM deliveries d JOIN runs r ON r.id = d.run_id
WHERE r.state IN ` + activeStates + ` AND d.state IN ('pending', 'sending') AND d.not_before <= now()`

// qRSVPTarget reads a delivery's recipient, campaign and current answer for an RSVP: $1 delivery id.
const qRSVPTarget = `
SELECT r.campaign_id, k.kind AS campaign_kind, k.current_version_id, d.alumni_id,
	a.email, a.family_name, a.given_name, a.locale, a.timezone,
	v.answer, v.waitlisted, v.answered_at
FROM deliveries d
JOIN runs r ON r.id = d.run_id
JOIN campaigns k ON k.id = r.campaign_id
JOIN alumni a ON a.id = d.alumni_id
LEFT JOIN rsvps v ON v.campaign_id = r.campaign_id AND v.alumni_id = d.alumni_id
WHERE d.id = $1`

// qWaitlistPosition is a person's 1-based place on the waiting list (0 when not on it): $1 campaign id, $2 alumni id.
const qWaitlistPosition = `
SELECT count(*) FROM rsvps me JOIN rsvps w
	ON w.campaign_id = me.campaign_id AND w.waitlisted
	AND (w.answered_at, w.alumni_id) <= (me.answered_at, me.alumni_id)
WHERE me.campaign_id = $1 AND me.alumni_id = $2 AND me.waitlisted`

// qLockEventCampaign locks the campaign row (serialising answers, version
// registrations and promotions of one campaign; NO KEY UPDATE so that
// inserting runs, which checks the foreign key, is not blocked) and
// returns its current version: $1 campaign id.
const qLockEventCampaign = `SELECT current_version_id FROM campaigns WHERE id = $1 FOR NO KEY UPDATE`

// qCurrentRSVP: $1 campaign id, $2 alumni id.
const qCurrentRSVP = `SELECT answer, waitlisted FROM rsvps WHERE campaign_id = $1 AND alumni_id = $2`

// qGuestCount counts the guest list (yes, not waitlisted): $1 campaign id.
const qGuestCount = `SELECT count(*) FROM rsvps WHERE campaign_id = $1 AND answer = 'yes' AND NOT waitlisted`

// qUpsertRSVP records a changed answer; answered_at is the time of the
// change (the waiting list's order): $1 campaign id, $2 alumni id, $3
// delivery id, $4 answer, $5 waitlisted, $6 answered at.
const qUpsertRSVP = `
INSERT INTO rsvps (campaign_id, alumni_id, delivery_id, answer, waitlisted, answered_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (campaign_id, alumni_id) DO UPDATE SET delivery_id = EXCLUDED.delivery_id,
	answer = EXCLUDED.answer, waitlisted = EXCLUDED.waitlisted, answered_at = EXCLUDED.answered_at`

// qCancelSupersededNotices cancels a person's notices of the campaign not
// sent yet, and their pending reminders when $3 (they are no longer a
// guest): $1 campaign id, $2 alumni id, $3 also reminders.
const qCancelSupersededNotices = `
UPDATE deliveries d SET state = 'cancelled', updated_at = now()
FROM runs r
WHERE r.id = d.run_id AND r.campaign_id = $1 AND d.alumni_id = $2 AND d.state = 'pending'
  AND (r.kind = 'notice' OR (r.kind = 'reminder' AND $3))`

// qPromote moves the first people on the waiting list (by answered_at,
// then alumni id) to the guest list while there is room, and returns who
// moved: $1 campaign id, $2 capacity (0: unlimited).
const qPromote = `
WITH room AS (
	SELECT CASE WHEN $2::int = 0 THEN NULL ELSE greatest($2::int - count(*), 0) END AS n
	FROM rsvps WHERE campaign_id = $1 AND answer = 'yes' AND NOT waitlisted
), next AS (
	SELECT w.alumni_id FROM rsvps w
	WHERE w.campaign_id = $1 AND w.waitlisted
	ORDER BY w.answered_at, w.alumni_id
	LIMIT (SELECT n FROM room)
)
UPDATE rsvps v SET waitlisted = false
FROM next WHERE v.campaign_id = $1 AND v.alumni_id = next.alumni_id
RETURNING v.alumni_id`

// qInsertNotices writes notices into a notice run, in chunks of at most
// $5 (one nextval of delivery_chunks_seq per chunk), and returns their ids
// and the chunk of each, ordered by chunk then id: $1 run id, $2 alumni
// ids, $3 notices (same length), $4 queue slack in seconds (0: no task
// will carry them), $5 chunk size.
const qInsertNotices = `
WITH x AS (
	SELECT u.alumni_id, u.notice, (u.n - 1) / $5 AS k
	FROM unnest($2::bigint[], $3::text[]) WITH ORDINALITY AS u(alumni_id, notice, n)
), chunks AS (
	SELECT y.k, nextval('delivery_chunks_seq') AS chunk_id FROM (SELECT DISTINCT k FROM x) y
), ins AS (
	INSERT INTO deliveries (run_id, alumni_id, notice, notice_seq, chunk_id, queued_until)
	SELECT $1, x.alumni_id, x.notice, nextval('deliveries_notice_seq'), chunks.chunk_id,
		CASE WHEN $4::float8 > 0 THEN now() + make_interval(secs => $4::float8) END
	FROM x JOIN chunks ON chunks.k = x.k
	RETURNING id, chunk_id
)
SELECT coalesce((SELECT array_agg(id ORDER BY chunk_id, id) FROM ins), '{}') AS ids,
       coalesce((SELECT array_agg(chunk_id ORDER BY chunk_id, id) FROM ins), '{}') AS chunks`

// qOpenNoticeRun makes a notice run send again after it was done or
// cancelled. It always writes the row, so that a concurrent FinishIfDone
// waits for this transaction and its recheck sees the new notices: $1 run id.
const qOpenNoticeRun = `
UPDATE runs SET
	finished_at = CASE WHEN state IN ('expanding', 'done', 'cancelled') THEN NULL ELSE finished_at END,
	state = CASE WHEN state IN ('expanding', 'done', 'cancelled') THEN 'sending' ELSE state END,
	expanded_at = coalesce(expanded_at, now())
WHERE id = $1`

// rsvpFilterGuests is the condition of qtExpandSlice for reminders: the
// guest list (yes, not waitlisted). $6 campaign id.
const rsvpFilterGuests = `EXISTS (SELECT 1 FROM rsvps v WHERE v.campaign_id = $6 AND v.alumni_id = a.id AND v.answer = 'yes' AND NOT v.waitlisted)`

// rsvpFilterInterested is the condition of qtExpandSlice for updates and
// cancellations: everyone who answered yes (guests and waiting list) or
// maybe. $6 campaign id.
const rsvpFilterInterested = `EXISTS (SELECT 1 FROM rsvps v WHERE v.campaign_id = $6 AND v.alumni_id = a.id AND v.answer IN ('yes', 'maybe'))`

// qInvitationSequence is the highest iCalendar SEQUENCE the campaign's
// invitations and updates went out with (NULL: no invitation yet): $1
// campaign id.
const qInvitationSequence = `
SELECT max(v.event_sequence) FROM runs r JOIN campaign_versions v ON v.id = r.version_id
WHERE r.campaign_id = $1 AND r.kind IN ('send', 'update')`

// qOpenRunsOfKinds lists a campaign's runs of some kinds that are not
// finished (active or paused), but one: $1 campaign id, $2 kinds, $3 the
// run id to leave alone.
const qOpenRunsOfKinds = `
SELECT id FROM runs WHERE campaign_id = $1 AND kind = ANY($2) AND id <> $3 AND state NOT IN ('done', 'cancelled')
ORDER BY id`

// qAttendees lists the answers to campaign $1 with the people who gave
// them, leaving out forgotten people (their row stays, personal columns
// cleared). A yes beyond capacity is on the waiting list (waitlisted); its
// position counts the listed waiting list in order of answer (answered_at,
// then alumni id), from 1. Attendees sorts the rows.
const qAttendees = `
SELECT a.family_name, a.given_name, a.family_name_kana, a.given_name_kana, a.department, a.email,
       v.answer, v.answered_at, (v.answer = 'yes' AND v.waitlisted) AS waitlisted,
       CASE WHEN v.answer = 'yes' AND v.waitlisted
            THEN row_number() OVER (PARTITION BY v.answer = 'yes' AND v.waitlisted ORDER BY v.answered_at, v.alumni_id)
            ELSE 0 END AS position
FROM rsvps v JOIN alumni a ON a.id = v.alumni_id
WHERE v.campaign_id = $1 AND a.status <> 'forgotten' AND a.email IS NOT NULL`

// qAddInboundEvent records an event an inbound message reported, once per
// (delivery, kind, inbound message), and no inbound bounce on a delivery
// the worker recorded as bounced at the relay (classification smtp). Run
// after qLockDeliveryForEvent. $1 delivery id, $2 kind, $3 detail (jsonb,
// with "inbound"), $4 the inbound message's id as text.
const qAddInboundEvent = `
INSERT INTO delivery_events (delivery_id, kind, classification, detail)
SELECT $1, $2, 'inbound', $3::jsonb
WHERE NOT EXISTS (SELECT 1 FROM delivery_events
                  WHERE delivery_id = $1 AND kind = $2 AND detail->>'inbound' = $4)
  AND NOT ($2 = 'bounce' AND EXISTS (SELECT 1 FROM delivery_events
                  WHERE delivery_id = $1 AND kind = 'bounce' AND classification = 'smtp'))`

// qHasSMTPBounce: did the worker record delivery $1 as bounced at the relay?
const qHasSMTPBounce = `
SELECT EXISTS (SELECT 1 FROM delivery_events WHERE delivery_id = $1 AND kind = 'bounce' AND classification = 'smtp')`

// qSoftBounceRuns counts the runs with a soft bounce of alumnus $1.
const qSoftBounceRuns = `
SELECT count(DISTINCT d.run_id)
FROM delivery_events e JOIN deliveries d ON d.id = e.delivery_id
WHERE d.alumni_id = $1 AND e.kind = 'bounce' AND e.detail->>'type' = 'soft'`

// qDeliveryForAttendee: the latest delivery of campaign $1 to the alumnus
// with address $2 (lower case).
const qDeliveryForAttendee = `
SELECT d.id FROM deliveries d
JOIN runs r ON r.id = d.run_id
JOIN alumni a ON a.id = d.alumni_id
WHERE r.campaign_id = $1 AND a.email = $2
ORDER BY d.id DESC LIMIT 1`

// qLatestDeliveryTo: the latest sent delivery to the alumnus with address
// $1 (lower case), of any campaign.
const qLatestDeliveryTo = `
SELECT d.id FROM deliveries d
JOIN alumni a ON a.id = d.alumni_id
WHERE a.email = $1 AND d.state = 'sent'
ORDER BY d.sent_at DESC, d.id DESC LIMIT 1`

// qReplies: the latest human replies ('reply' events), newest first, with
// the delivery's run and person; $1 a campaign id (empty: every campaign),
// $2 how many at most.
const qReplies = `
SELECT e.created_at AS at, d.id AS delivery_id, r.campaign_id, r.number AS run, r.kind AS run_kind,
       a.family_name, a.given_name, coalesce(a.email, '') AS email,
       coalesce(e.detail->>'from', '') AS from_address,
       coalesce(e.detail->>'subject', '') AS subject,
       coalesce(e.detail->>'text', '') AS excerpt
FROM delivery_events e
JOIN deliveries d ON d.id = e.delivery_id
JOIN runs r ON r.id = d.run_id
JOIN alumni a ON a.id = d.alumni_id
WHERE e.kind = 'reply' AND ($1 = '' OR r.campaign_id = $1)
ORDER BY e.created_at DESC, e.id DESC
LIMIT $2`

// qLockRunForSenderBounces locks a run's row against other intakes
// counting its sender-side bounces (and against a pause), and reads its
// state: $1 run id.
const qLockRunForSenderBounces = `SELECT state FROM runs WHERE id = $1 FOR NO KEY UPDATE`

// qSenderBounces counts a run's deliveries with a sender-side bounce
// (bounce events of type sender) whose reply has pattern $2, and their
// recipients' domains, with and without the event of delivery $3 that
// inbound message $4 (its id as text) reported: $1 run id.
const qSenderBounces = `
SELECT count(DISTINCT e.delivery_id) AS deliveries,
       count(DISTINCT e.detail->>'domain') AS domains,
       count(DISTINCT e.delivery_id) FILTER (WHERE NOT (e.delivery_id = $3 AND e.detail->>'inbound' = $4)) AS deliveries_before,
       count(DISTINCT e.detail->>'domain') FILTER (WHERE NOT (e.delivery_id = $3 AND e.detail->>'inbound' = $4)) AS domains_before
FROM delivery_events e JOIN deliveries d ON d.id = e.delivery_id
WHERE e.kind = 'bounce' AND e.detail->>'type' = 'sender' AND e.detail->>'pattern' = $2 AND d.run_id = $1`
