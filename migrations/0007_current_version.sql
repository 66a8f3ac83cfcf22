-- The version a campaign's file holds now. Versions are keyed by digest, so
-- a file edited back to an earlier content reuses that row: the newest row is
-- then not the current one.
ALTER TABLE campaigns ADD COLUMN current_version_id bigint REFERENCES campaign_versions (id);

UPDATE campaigns c SET current_version_id =
    (SELECT max(v.id) FROM campaign_versions v WHERE v.campaign_id = c.id);
