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
// text); the message stays unprocessed and is tried again.
const qRecordError = `UPDATE inbound_messages SET error = $2 WHERE id = $1 AND processed_at IS NULL`

// qResetSince makes the messages received at or after $1 unprocessed again,
// for a new classification: returns their ids.
const qResetSince = `
UPDATE inbound_messages SET class = NULL, processed_at = NULL, error = ''
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
