-- The alumni roster, the suppression list and the import staging table.

CREATE TABLE alumni (
    id               bigserial PRIMARY KEY,
    -- NULL only for forgotten people: their address survives as a hash in suppressions.
    email            text UNIQUE CHECK (email = lower(email)),
    family_name      text NOT NULL DEFAULT '',
    given_name       text NOT NULL DEFAULT '',
    family_name_kana text NOT NULL DEFAULT '',
    given_name_kana  text NOT NULL DEFAULT '',
    employee_id      text UNIQUE,
    department       text NOT NULL DEFAULT '',
    joined_on        date,
    left_on          date,
    locale           text NOT NULL DEFAULT 'ja' CHECK (locale IN ('ja', 'en')),
    timezone         text NOT NULL DEFAULT 'Asia/Tokyo',
    tags             text[] NOT NULL DEFAULT '{}',
    -- The consent record the Japanese law on commercial email asks for.
    consent          boolean NOT NULL DEFAULT false,
    consented_at     timestamptz,
    consent_source   text NOT NULL DEFAULT '',
    status           text NOT NULL DEFAULT 'active'
                     CHECK (status IN ('active', 'unsubscribed', 'bounced', 'forgotten')),
    status_changed_at timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'forgotten') = (email IS NULL))
);

CREATE INDEX alumni_tags_idx ON alumni USING gin (tags);
CREATE INDEX alumni_status_idx ON alumni (status);

-- Addresses that must never be mailed again, keyed by the SHA-256 of the
-- lower-cased address so that the entry survives a forget request.
CREATE TABLE suppressions (
    email_hash bytea PRIMARY KEY CHECK (length(email_hash) = 32),
    reason     text NOT NULL CHECK (reason IN ('unsubscribed', 'bounced', 'forgotten')),
    created_at timestamptz NOT NULL DEFAULT now()
);
