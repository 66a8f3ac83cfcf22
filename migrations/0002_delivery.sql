-- Campaigns, their immutable versions, runs, per-recipient deliveries,
-- and what recipients did with them (opens, clicks, replies, RSVPs).

CREATE TABLE campaigns (
    id         text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    kind       text NOT NULL CHECK (kind IN ('newsletter', 'event')),
    file       text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- A run renders the version it started with, so editing a file never
-- changes a run already under way.
CREATE TABLE campaign_versions (
    id          bigserial PRIMARY KEY,
    campaign_id text NOT NULL REFERENCES campaigns (id),
    digest      text NOT NULL,
    definition  jsonb NOT NULL,
    -- iCalendar SEQUENCE of the event at this version (grows when the event changes).
    event_sequence int NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (campaign_id, digest)
);

CREATE TABLE runs (
    id           bigserial PRIMARY KEY,
    campaign_id  text NOT NULL REFERENCES campaigns (id),
    version_id   bigint NOT NULL REFERENCES campaign_versions (id),
    number       int NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('send', 'reminder')),
    -- Identifies the occurrence: two schedulers starting the same one collide here.
    occurrence   text NOT NULL,
    state        text NOT NULL DEFAULT 'expanding'
                 CHECK (state IN ('expanding', 'sending', 'waiting', 'paused', 'done', 'cancelled')),
    pause_reason text NOT NULL DEFAULT '',
    started_at   timestamptz NOT NULL DEFAULT now(),
    expanded_at  timestamptz,
    finished_at  timestamptz,
    UNIQUE (campaign_id, occurrence),
    UNIQUE (campaign_id, number)
);

CREATE TABLE deliveries (
    id          bigserial PRIMARY KEY,
    run_id      bigint NOT NULL REFERENCES runs (id),
    alumni_id   bigint NOT NULL REFERENCES alumni (id),
    state       text NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'suppressed', 'cancelled')),
    attempts    int NOT NULL DEFAULT 0,
    not_before  timestamptz NOT NULL DEFAULT now(),
    lease_until timestamptz,
    message_id  text,
    smtp_reply  text NOT NULL DEFAULT '',
    sent_at     timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (run_id, alumni_id)
);

CREATE INDEX deliveries_due_idx ON deliveries (not_before) WHERE state IN ('pending', 'sending');
CREATE INDEX deliveries_alumni_idx ON deliveries (alumni_id);
CREATE UNIQUE INDEX deliveries_message_id_idx ON deliveries (message_id) WHERE message_id IS NOT NULL;

-- What a recipient did with a delivery. Personal details (ip, user agent,
-- reply text) are erased by forget.
CREATE TABLE delivery_events (
    id             bigserial PRIMARY KEY,
    delivery_id    bigint NOT NULL REFERENCES deliveries (id),
    kind           text NOT NULL CHECK (kind IN ('open', 'click', 'unsubscribe', 'reply', 'auto_reply', 'bounce')),
    -- human | apple_mpp | proxy | scanner | unknown (opens and clicks)
    classification text NOT NULL DEFAULT 'unknown',
    target         text NOT NULL DEFAULT '',
    detail         jsonb NOT NULL DEFAULT '{}',
    ip             inet,
    user_agent     text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX delivery_events_delivery_idx ON delivery_events (delivery_id, kind);

CREATE TABLE rsvps (
    campaign_id text NOT NULL REFERENCES campaigns (id),
    alumni_id   bigint NOT NULL REFERENCES alumni (id),
    delivery_id bigint REFERENCES deliveries (id),
    answer      text NOT NULL CHECK (answer IN ('yes', 'no', 'maybe')),
    waitlisted  boolean NOT NULL DEFAULT false,
    answered_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, alumni_id)
);
