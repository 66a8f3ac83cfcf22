-- What the delivery engine needs to find work quickly and to recover it
-- after a crash or a lost Redis.

-- queued_until: a send task is believed to be queued for this delivery until
-- then. NULL means no task carries it (deferred by a retry, a throttle, the
-- send window, a pause): the reconciler enqueues it once it is due. A stale
-- value (the task was lost) is caught by the reconciler's slower sweep.
ALTER TABLE deliveries ADD COLUMN queued_until timestamptz;

-- Deliveries that no task carries, by when they are due.
CREATE INDEX deliveries_unqueued_idx ON deliveries (not_before)
    WHERE state = 'pending' AND queued_until IS NULL;

-- Claimed deliveries, by lease expiry (a worker died holding them).
CREATE INDEX deliveries_lease_idx ON deliveries (lease_until) WHERE state = 'sending';

-- Whether a run still has work: the done check runs after every chunk.
CREATE INDEX deliveries_open_idx ON deliveries (run_id) WHERE state IN ('pending', 'sending');

-- Runs that still need attention from the reconciler.
CREATE INDEX runs_active_idx ON runs (state) WHERE state IN ('expanding', 'sending', 'waiting');

