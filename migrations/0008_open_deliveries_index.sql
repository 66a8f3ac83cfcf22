-- One index over the open deliveries (pending or being sent) instead of two.
--
-- deliveries_due_idx (not_before) and deliveries_open_idx (run_id) held the
-- same rows, so every delivery paid two extra index entries: on its INSERT
-- and again on its claim (a claim changes state, so it is never a HOT
-- update). (run_id, not_before) answers both questions asked of open
-- deliveries: does a run still have work (the done check after every chunk)
-- and when is its next delivery due (the reconciler's waiting check, now a
-- single index probe per run instead of a scan of every open delivery). The
-- reconciler's stale-task sweep, every 30 s, reads the whole index instead
-- of a range of it: its size is the backlog, not the history.
DROP INDEX deliveries_due_idx;
DROP INDEX deliveries_open_idx;
CREATE INDEX deliveries_open_idx ON deliveries (run_id, not_before) WHERE state IN ('pending', 'sending');
