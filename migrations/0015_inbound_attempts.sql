-- How many times processing an inbound message has failed (owner:
-- internal/inbound). The count survives restarts, so a message that always
-- fails stops being retried after the intake's limit: it is then marked
-- processed with its error and listed as unattributed. Reprocessing resets
-- it.
ALTER TABLE inbound_messages ADD COLUMN attempts int NOT NULL DEFAULT 0;
