-- deliveries.message_id loses its unique index.
--
-- Nothing looks a delivery up by its Message-ID (replies and bounces are
-- attributed by the signed tokens of their Reply-To and return path), and
-- a Message-ID is unique by construction: d<delivery id>.<run>.<HMAC of
-- the delivery id>@<From domain> (render.Prepared.messageID). The index
-- only cost an insert for every recorded delivery (issue 13: Postgres time
-- per message).
DROP INDEX deliveries_message_id_idx;
