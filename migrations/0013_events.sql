-- Events end to end: the runs an event needs besides its invitation, and
-- the one-person mails an answer sends.
--
-- update:       the event's time, place, title or URL changed after the
--               invitation went out (one run per iCalendar SEQUENCE);
-- cancellation: the event block says cancelled: true;
-- notice:       confirmations of RSVP answers, waiting-list and promotion
--               notices, one run per campaign version, reopened by each
--               new notice.
ALTER TABLE runs DROP CONSTRAINT runs_kind_check;
ALTER TABLE runs ADD CONSTRAINT runs_kind_check
    CHECK (kind IN ('send', 'reminder', 'update', 'cancellation', 'notice'));

-- What a delivery of a notice run says; NULL for every other run.
ALTER TABLE deliveries ADD COLUMN notice text
    CHECK (notice IN ('confirm_yes', 'confirm_no', 'confirm_maybe', 'waitlisted', 'promoted'));

-- A person gets one delivery per run (notice_seq 0), except in notice
-- runs, where each answer they give is confirmed by its own mail: a
-- notice's notice_seq is its own number from deliveries_notice_seq.
CREATE SEQUENCE deliveries_notice_seq;
ALTER TABLE deliveries ADD COLUMN notice_seq bigint NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_run_alumni_notice_key UNIQUE (run_id, alumni_id, notice_seq);
ALTER TABLE deliveries DROP CONSTRAINT deliveries_run_id_alumni_id_key;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_notice_numbered CHECK ((notice IS NULL) = (notice_seq = 0));

-- The waiting list, in the order of the answers.
CREATE INDEX rsvps_waitlist_idx ON rsvps (campaign_id, answered_at, alumni_id) WHERE waitlisted;
