-- Sender-side bounces (owner: internal/runs): a returned message that
-- rejects the sender (DMARC, SPF, DKIM, 5.7.x policy, 5.1.7/5.1.8) is a
-- 'bounce' event of type sender, with the normalised reply ("pattern") and
-- the recipient's domain in its detail. The intake counts a run's events
-- of one pattern after each new one (runs.SenderBounces); this index keeps
-- that count to those events instead of every delivery of the run.
CREATE INDEX delivery_events_sender_bounce_idx ON delivery_events ((detail->>'pattern'))
    WHERE kind = 'bounce' AND detail->>'type' = 'sender';
