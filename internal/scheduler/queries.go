package scheduler

// The package's SQL, named. Every query here is prepared against the
// migrated schema by a test (internal/store), so a typo fails at test time.

// qRecordSightings records when each schedule part was first seen, keeping the earliest: $1 campaign ids, $2 sources, $3 times.
const qRecordSightings = `
INSERT INTO schedule_sightings (campaign_id, source, first_seen)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])
ON CONFLICT (campaign_id, source)
DO UPDATE SET first_seen = LEAST(schedule_sightings.first_seen, EXCLUDED.first_seen)
RETURNING campaign_id, source, first_seen, checked_until`

// qRecordSkipped records occurrences no scheduler started within max_late, once each.
const qRecordSkipped = `
INSERT INTO skipped_occurrences (campaign_id, occurrence, kind, due_at, reason)
SELECT $1, u.occurrence, u.kind, u.due_at, $5
FROM unnest($2::text[], $3::text[], $4::timestamptz[]) AS u (occurrence, kind, due_at)
WHERE NOT EXISTS (SELECT 1 FROM runs r WHERE r.campaign_id = $1 AND r.occurrence = u.occurrence)
ON CONFLICT (campaign_id, occurrence) DO NOTHING
RETURNING campaign_id, occurrence, kind, due_at, reason, recorded_at`

// qListSkipped lists the skipped occurrences of a campaign ($1; empty for all) that have no run since.
const qListSkipped = `
SELECT s.campaign_id, s.occurrence, s.kind, s.due_at, s.reason, s.recorded_at
FROM skipped_occurrences s
WHERE ($1 = '' OR s.campaign_id = $1)
  AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.campaign_id = s.campaign_id AND r.occurrence = s.occurrence)
ORDER BY s.campaign_id, s.due_at DESC`

// qMarkChecked records how far each schedule part's occurrences were handled.
const qMarkChecked = `
UPDATE schedule_sightings s SET checked_until = GREATEST(s.checked_until, u.until)
FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS u (campaign_id, source, until)
WHERE s.campaign_id = u.campaign_id AND s.source = u.source`
