package runs

// The package's SQL, named. Every query here is prepared against the
// migrated schema by TestQueriesPrepare, so a typo fails at test time.
//
// activeStates is the SQL list of the run states whose deliveries may be
// sent (Run.Active); it is spelt out, not a parameter, so that the partial
// index runs_active_idx (migrations/0005) serves the queries.
const activeStates = `('expanding', 'sending', 'waiting')`

// qClaim takes the task's deliveries that are claimable — pending, or
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
//
// $1 delivery ids, $2 lease in seconds, $3 the task's run id.
const qClaim = `
WITH c AS (
	UPDATE deliveries d SET state = 'sending', lease_until = now() + make_interval(secs => $2::float8),
		attempts = d.attempts + 1, updated_at = now()
	FROM runs r
	WHERE d.id = ANY($1) AND r.id = d.run_id AND r.state IN ` + activeStates + `
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

// qUnqueue hands pending deliveries back to the reconciler. $1 ids.
const qUnqueue = `
UPDATE deliveries SET queued_until = NULL
WHERE id = ANY($1) AND state = 'pending' AND queued_until IS NOT NULL`

// qExtendLease: $1 ids, $2 lease in seconds.
const qExtendLease = `
UPDATE deliveries SET lease_until = now() + make_interval(secs => $2::float8)
WHERE id = ANY($1) AND state = 'sending'`

// qRecord writes a batch of results: $1 ids, $2 states, $3 message ids
// (” keeps the stored one), $4 replies, $5 not_before (” keeps it), $6
// attempt corrections (-1 gives back the claim's attempt).
const qRecord = `
UPDATE deliveries d SET
	state = v.state,
	message_id = coalesce(nullif(v.message_id, ''), d.message_id),
	smtp_reply = v.reply,
	sent_at = CASE WHEN v.state = 'sent' THEN now() ELSE d.sent_at END,
	not_before = coalesce(nullif(v.not_before, '')::timestamptz, d.not_before),
	attempts = greatest(d.attempts + v.attempts, 0),
	lease_until = NULL,
	queued_until = NULL,
	updated_at = now()
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[])
	AS v(id, state, message_id, reply, not_before, attempts)
WHERE d.id = v.id
  AND (d.state = 'sending' OR (v.state = 'sent' AND d.state <> 'sent'))`

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
const qForgetAllTasks = `
UPDATE deliveries SET queued_until = NULL WHERE state = 'pending' AND queued_until IS NOT NULL`

// qForgetStaleTasks: tasks whose slack ran out vanished without Redis
// losing its data. Only due deliveries matter (those not due get a task
// when they are), which also lets the partial index on not_before serve.
const qForgetStaleTasks = `
UPDATE deliveries SET queued_until = NULL
WHERE state = 'pending' AND queued_until < now() AND not_before <= now()`

// qUnexpandedRuns lists the runs whose expansion has not finished.
const qUnexpandedRuns = `
SELECT id FROM runs WHERE expanded_at IS NULL AND state IN ('expanding', 'paused') ORDER BY id`

// qExpireLeases gives deliveries whose worker died holding them back to
// pending (cancelled in a cancelled run).
const qExpireLeases = `
UPDATE deliveries d SET state = CASE WHEN r.state = 'cancelled' THEN 'cancelled' ELSE 'pending' END,
	lease_until = NULL, queued_until = NULL, updated_at = now()
FROM runs r
WHERE d.state = 'sending' AND d.lease_until < now() AND r.id = d.run_id`

// qPickDue marks up to $1 due deliveries that no task carries as queued
// for $2 seconds and returns them. SKIP LOCKED: a claim in progress is
// not waited for.
const qPickDue = `
WITH picked AS (
	SELECT d.id FROM deliveries d
	WHERE d.state = 'pending' AND d.queued_until IS NULL AND d.not_before <= now()
	  AND EXISTS (SELECT 1 FROM runs r WHERE r.id = d.run_id AND r.state IN ` + activeStates + `)
	ORDER BY d.not_before
	LIMIT $1
	FOR UPDATE OF d SKIP LOCKED
)
UPDATE deliveries d SET queued_until = now() + make_interval(secs => $2::float8)
FROM picked WHERE d.id = picked.id
RETURNING d.id, d.run_id`

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
