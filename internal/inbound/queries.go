package inbound

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
