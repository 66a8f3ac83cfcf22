-- Why an active run is not sending right now, for `campaign status` and the
-- log: the relay does not answer (relay), the relay account's daily quota is
-- used up (quota), or its recipients' send window is closed (window). Written
-- by the workers when they hold deliveries back, shown while until (the next
-- try, or when the quota or window opens) has not long passed. Kept apart
-- from runs so that the claim's plan, which joins runs, does not change.
CREATE TABLE run_holds (
    run_id bigint PRIMARY KEY REFERENCES runs (id),
    reason text NOT NULL CHECK (reason IN ('relay', 'quota', 'window')),
    detail text NOT NULL DEFAULT '',
    since  timestamptz NOT NULL DEFAULT now(),
    until  timestamptz NOT NULL
);

-- A run paused because the relay refused the sender the same way for many
-- recipients (the circuit breaker): the replies whose failed deliveries go
-- back to pending when the run is resumed, so that everyone gets the
-- message once the sender is fixed.
CREATE TABLE run_requeue_replies (
    run_id bigint NOT NULL REFERENCES runs (id),
    reply  text NOT NULL,
    PRIMARY KEY (run_id, reply)
);
