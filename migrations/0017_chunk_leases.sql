-- A claim leases a chunk of deliveries in one row instead of writing
-- every delivery of it (issue 13: Postgres time per message).
--
-- Every time deliveries are handed to a send task (the expansion, the
-- reconciler, a notice) they are grouped into chunks of at most 200, and
-- each chunk gets a new id from delivery_chunks_seq, stored on the
-- delivery by the statement that already writes its row. A task carries
-- one chunk; a claim takes the chunk's one send_leases row (free or
-- expired only) and then only reads the chunk's pending deliveries. A
-- delivery stays 'pending' until its result is recorded.
CREATE SEQUENCE delivery_chunks_seq;

-- The chunk the delivery was last handed out in (NULL: never handed out).
ALTER TABLE deliveries ADD COLUMN chunk_id bigint;

-- A chunk being sent: the worker holds it until lease_until and extends
-- it while it sends; it deletes the row when the chunk is done. An
-- expired row is free. delivery_ids are the chunk's deliveries as its task
-- carried them, so that the reconciler can hand out again at once the
-- deliveries of a chunk whose worker died (it deletes expired rows). The
-- reconciler also takes a chunk's row (in the same statement) before it
-- hands a delivery of that chunk out again, so the row is where a claim
-- and a re-hand-out meet: one of them waits for the other.
CREATE TABLE send_leases (
    chunk_id     bigint PRIMARY KEY,
    lease_until  timestamptz NOT NULL,
    delivery_ids bigint[] NOT NULL DEFAULT '{}'
);

-- Nothing writes 'sending' any more (the CHECK keeps it for old rows'
-- sake). Deliveries claimed under the old scheme go back to pending for
-- the reconciler to send, as an expired lease did; in a cancelled run they
-- are cancelled.
UPDATE deliveries d
SET state = CASE WHEN r.state = 'cancelled' THEN 'cancelled' ELSE 'pending' END,
    lease_until = NULL, queued_until = NULL, updated_at = now()
FROM runs r
WHERE d.state = 'sending' AND r.id = d.run_id;

DROP INDEX deliveries_lease_idx;
