package inbound

// The inbound package's SQL: it owns inbound_messages and inbound_forwards
// (ARCHITECTURE.md). Append new queries at the end.

// storedColumns are the columns a Stored message is read from.
const storedColumns = `id, received_at, source, envelope_from, envelope_to, raw, size, truncated, message_id, processed_at`

// qStoreMessage stores one received message unless a message with the same
// sha256 is stored already: returns its id, or no row for a duplicate. $1
// source, $2 envelope sender, $3 envelope recipients, $4 raw (at most the
// size limit), $5 full size in bytes, $6 truncated, $7 sha256 of the whole
// message, $8 its Message-ID without angle brackets.
const qStoreMessage = `
INSERT INTO inbound_messages (source, envelope_from, envelope_to, raw, size, truncated, sha256, message_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (sha256) DO NOTHING
RETURNING id`

// qMessageBySHA256 finds the stored message with sha256 $1.
const qMessageBySHA256 = `SELECT id FROM inbound_messages WHERE sha256 = $1`

// qLockMessage reads message $1 and locks it for processing; it waits for a
// processor that holds it.
const qLockMessage = `SELECT ` + storedColumns + ` FROM inbound_messages WHERE id = $1 FOR UPDATE`

// qLockNextUnprocessed takes the oldest unprocessed message that no other
// processor holds and that is not waiting out a retry ($1: ids to leave
// alone), and locks it.
const qLockNextUnprocessed = `
SELECT ` + storedColumns + ` FROM inbound_messages
WHERE processed_at IS NULL AND NOT (id = ANY($1::bigint[]))
ORDER BY id LIMIT 1
FOR UPDATE SKIP LOCKED`

// qRecordProcessed writes what processing message $1 found and did: $2
// class, $3 the attributed delivery (NULL when unknown), $4 the result as
// JSON.
const qRecordProcessed = `
UPDATE inbound_messages SET class = $2, delivery_id = $3, result = $4, processed_at = now(), error = ''
WHERE id = $1`

// qRecordError keeps the error of a failed processing of message $1 ($2 the
// text) and adds $3 to its failed attempts; the message stays unprocessed
// and is tried again, unless the attempts reach $4: then it is given up,
// marked processed with its error. Returns the attempts and whether it was
// given up.
const qRecordError = `
UPDATE inbound_messages SET attempts = attempts + $3::int,
	error = CASE WHEN attempts + $3::int >= $4::int
		THEN 'given up after ' || (attempts + $3::int) || ' failed attempts: ' || $2::text ELSE $2::text END,
	processed_at = CASE WHEN attempts + $3::int >= $4::int THEN now() END
WHERE id = $1 AND processed_at IS NULL
RETURNING attempts, processed_at IS NOT NULL AS given_up`

// qResetSince makes the messages received at or after $1 unprocessed again,
// for a new classification: returns their ids.
const qResetSince = `
UPDATE inbound_messages SET class = NULL, processed_at = NULL, error = '', attempts = 0
WHERE received_at >= $1
RETURNING id`

// qListMessages lists the most recent messages, newest first: $1 true for
// only the processed ones attributed to no delivery, $2 how many. head is
// the message's first 64 KiB (its header, for From and Subject).
const qListMessages = `
SELECT id, received_at, source, envelope_from, substring(raw from 1 for 65536) AS head, size, truncated,
       message_id, coalesce(class, '') AS class, delivery_id, processed_at, error
FROM inbound_messages
WHERE NOT $1 OR (delivery_id IS NULL AND processed_at IS NOT NULL)
ORDER BY received_at DESC, id DESC
LIMIT $2`

// The package's SQL, named (internal/store prepares every one against the
// migrated schema).

// qQueueForward queues the forward of a human reply, once per inbound
// message: $1 inbound id, $2 the address it goes to.
const qQueueForward = `
INSERT INTO inbound_forwards (inbound_id, to_address) VALUES ($1, $2)
ON CONFLICT (inbound_id) DO NOTHING`

// qClaimForwards takes up to $2 forwards that are due — pending and past
// not_before, or sending under a lease that expired (a forwarder died) —
// leases them for $1 seconds and counts the attempt. SKIP LOCKED lets
// several forwarders claim at once without taking the same one.
const qClaimForwards = `
UPDATE inbound_forwards f SET state = 'sending', attempts = f.attempts + 1,
	lease_until = now() + make_interval(secs => $1::float8)
WHERE f.id IN (
	SELECT id FROM inbound_forwards
	WHERE (state = 'pending' AND not_before <= now()) OR (state = 'sending' AND lease_until < now())
	ORDER BY id
	LIMIT $2
	FOR UPDATE SKIP LOCKED)
RETURNING f.id, f.inbound_id, f.to_address, f.attempts`

// qForwardSource reads what a forward is made of: $1 inbound id.
const qForwardSource = `
SELECT raw, truncated, sha256, received_at, coalesce(delivery_id, 0) AS delivery_id
FROM inbound_messages WHERE id = $1`

// qForwardSent records an accepted forward: $1 id, $2 the relay's reply.
// Only the claim that still holds the row records (a lease that expired
// and was claimed again is the other claim's).
const qForwardSent = `
UPDATE inbound_forwards SET state = 'sent', sent_at = now(), smtp_reply = $2, lease_until = NULL
WHERE id = $1 AND state = 'sending' AND attempts = $3`

// qForwardRetry puts a forward back to wait until $3 seconds from now: $1
// id, $2 the relay's reply or the error, $4 the claim's attempt.
const qForwardRetry = `
UPDATE inbound_forwards SET state = 'pending', smtp_reply = $2, lease_until = NULL,
	not_before = now() + make_interval(secs => $3::float8)
WHERE id = $1 AND state = 'sending' AND attempts = $4`

// qForwardFailed gives a forward up: $1 id, $2 the reply or error, $3 the
// claim's attempt.
const qForwardFailed = `
UPDATE inbound_forwards SET state = 'failed', smtp_reply = $2, lease_until = NULL
WHERE id = $1 AND state = 'sending' AND attempts = $3`

// qForwardGiveBack returns a claim's try that was never made (the relay
// was already found down in the same pass): $1 id.
const qForwardGiveBack = `
UPDATE inbound_forwards SET attempts = greatest(attempts - 1, 0) WHERE id = $1 AND state = 'pending'`

// qRecordUnreadable marks message $1 processed without a class: the
// classifier cannot read it ($2 why: an empty message, no header). The
// classifier is pure, so trying again would fail the same way; the message
// stays stored and listed (unattributed), and reprocess reads it again.
const qRecordUnreadable = `
UPDATE inbound_messages SET class = NULL, delivery_id = NULL, result = NULL, processed_at = now(), error = $2
WHERE id = $1`

// qForwardExists says whether the forward of inbound message $1 is queued
// already (a reprocessed reply keeps its first forward).
const qForwardExists = `SELECT EXISTS (SELECT 1 FROM inbound_forwards WHERE inbound_id = $1)`

// qShowMessage reads one stored message for `kizuna inbound show`: $1 id.
const qShowMessage = `
SELECT m.id, m.received_at, m.source, m.envelope_from, m.envelope_to, m.raw, m.size, m.truncated, m.message_id,
       coalesce(m.class, '') AS class, m.delivery_id, m.result, m.processed_at, m.error, m.attempts,
       f.to_address AS forward_to, f.state AS forward_state
FROM inbound_messages m LEFT JOIN inbound_forwards f ON f.inbound_id = m.id
WHERE m.id = $1`
