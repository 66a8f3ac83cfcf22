-- Occurrences of a campaign's schedule that no scheduler started within the
-- campaign's max_late, so they were skipped rather than sent late (SPEC.md,
-- Campaign files: max_late). Recorded once whichever scheduler notices first
-- (the primary key), so that `campaign list` and `campaign status` can show
-- them with the command that sends them. Owned by internal/scheduler.
CREATE TABLE skipped_occurrences (
    campaign_id text NOT NULL,
    occurrence  text NOT NULL,               -- the key a run would have had (runs.occurrence)
    kind        text NOT NULL CHECK (kind IN ('send', 'reminder')),
    due_at      timestamptz NOT NULL,
    -- no_scheduler: due while no scheduler ran, older than max_late when one started;
    -- late: a running scheduler could not start it within max_late (stalled, suspended).
    reason      text NOT NULL CHECK (reason IN ('no_scheduler', 'late')),
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, occurrence)
);

-- How far schedulers have handled each schedule part: every occurrence due
-- at or before checked_until was started, found started or skipped. A
-- scheduler that starts reads it to find what fell due while none ran.
-- NULL: not known yet (a part seen before this migration, or never ticked).
ALTER TABLE schedule_sightings ADD COLUMN checked_until timestamptz;
