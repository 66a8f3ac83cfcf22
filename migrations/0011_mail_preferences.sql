-- What mail a person still wants, chosen on the unsubscribe page: every
-- campaign, only newsletters, or only event invitations. Checked by the
-- worker at send time, so a choice is honoured by a run already sending.
ALTER TABLE alumni ADD COLUMN mail_kinds text NOT NULL DEFAULT 'all'
    CHECK (mail_kinds IN ('all', 'newsletter', 'event'));
