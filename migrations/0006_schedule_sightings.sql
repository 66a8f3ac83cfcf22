-- When a scheduler first saw each part of a campaign's schedule (a one-off
-- at, an event reminder, a cron spec). An occurrence is sent automatically
-- only if its schedule was known before it was due: a one-off whose at is
-- already past when it first appears is reported, not sent (SPEC.md,
-- Campaign files). Shared by every scheduler, and kept across restarts.
CREATE TABLE schedule_sightings (
    campaign_id text NOT NULL,
    source      text NOT NULL,
    first_seen  timestamptz NOT NULL,
    PRIMARY KEY (campaign_id, source)
);
