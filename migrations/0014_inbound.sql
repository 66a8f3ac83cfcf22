-- Inbound mail: replies, automatic replies, bounces, calendar answers and
-- complaints that come back to the inbound address, and the human replies
-- forwarded to the campaign's reply_to.
CREATE TABLE inbound_messages (
  id bigserial PRIMARY KEY,
  received_at timestamptz NOT NULL DEFAULT now(),
  source text NOT NULL CHECK (source IN ('smtp', 'lmtp', 'imap')),
  envelope_from text NOT NULL DEFAULT '',
  envelope_to text[] NOT NULL DEFAULT '{}',
  raw bytea NOT NULL,              -- at most the size limit; truncated says when cut
  size int NOT NULL,               -- the message's full size in bytes
  truncated boolean NOT NULL DEFAULT false,
  sha256 bytea NOT NULL UNIQUE,    -- the same message read twice (two intakes, a restart) is stored once
  message_id text NOT NULL DEFAULT '',
  class text,                      -- NULL until classified
  delivery_id bigint REFERENCES deliveries (id),  -- the attributed delivery, NULL when unknown
  result jsonb,                    -- the classification (classify.Result) and what was done
  processed_at timestamptz,
  error text NOT NULL DEFAULT ''
);
CREATE TABLE inbound_forwards (      -- human replies forwarded to the campaign's reply_to (durable outbox)
  id bigserial PRIMARY KEY,
  inbound_id bigint NOT NULL UNIQUE REFERENCES inbound_messages (id),
  to_address text NOT NULL,
  state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
  attempts int NOT NULL DEFAULT 0,
  not_before timestamptz NOT NULL DEFAULT now(),
  lease_until timestamptz,
  smtp_reply text NOT NULL DEFAULT '',
  sent_at timestamptz
);
