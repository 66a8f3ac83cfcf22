package roster

// The package's SQL, named. Every query here is prepared against the
// migrated schema by a test (internal/store), so a typo fails at test time;
// qCreateStage runs first there, since the import queries use its table.

// qSuppressionReason: $1 the address's hash.
const qSuppressionReason = `SELECT reason FROM suppressions WHERE email_hash = $1`

// qResubscribe makes a person active again with a new consent record: $1 address, $2 now, $3 consent source.
const qResubscribe = `UPDATE alumni SET status = 'active', status_changed_at = $2, updated_at = $2,
	consent = true, consented_at = $2, consent_source = $3 WHERE email = $1`

// qUnsuppress lifts an unsubscribe's suppression (never a bounce's or a forget's): $1 the address's hash.
const qUnsuppress = `DELETE FROM suppressions WHERE email_hash = $1 AND reason = 'unsubscribed'`

// qLockAlumnusID: $1 address.
const qLockAlumnusID = `SELECT id FROM alumni WHERE email = $1 FOR UPDATE`

// qSuppressForgotten keeps an erased address's hash so that it is never mailed or imported again: $1 hash, $2 now.
const qSuppressForgotten = `INSERT INTO suppressions (email_hash, reason, created_at) VALUES ($1, 'forgotten', $2)
	ON CONFLICT (email_hash) DO UPDATE SET reason = 'forgotten'`

// qLockStatus: $1 address.
const qLockStatus = `SELECT status FROM alumni WHERE email = $1 FOR UPDATE`

// qFindAlumnus: $1 address.
const qFindAlumnus = `SELECT ` + alumnusColumns + ` FROM alumni WHERE email = $1`

// qExportAlumni: everyone but the forgotten, by id.
const qExportAlumni = `SELECT ` + alumnusColumns + ` FROM alumni WHERE status <> 'forgotten' ORDER BY id`

const alumnusColumns = `id, COALESCE(email, ''), family_name, given_name, family_name_kana, given_name_kana,
    COALESCE(employee_id, ''), department, joined_on, left_on, locale, timezone, tags,
    consent, consented_at, consent_source, status, status_changed_at, created_at, updated_at`

// The staging table lives only for the import's transaction. NULL in any
// column is an empty cell.
const qCreateStage = `
CREATE TEMP TABLE roster_stage (
    line             int NOT NULL,
    raw_email        text NOT NULL,
    email            text NOT NULL,
    family_name      text,
    given_name       text,
    family_name_kana text,
    given_name_kana  text,
    employee_id      text,
    department       text,
    joined_on        date,
    left_on          date,
    locale           text,
    timezone         text,
    tags             text[],
    consent          boolean,
    consented_at     timestamptz,
    consent_source   text
) ON COMMIT DROP`

const qCopyStage = `COPY roster_stage (line, raw_email, email, family_name, given_name,
    family_name_kana, given_name_kana, employee_id, department, joined_on, left_on,
    locale, timezone, tags, consent, consented_at, consent_source) FROM STDIN`

// The first row with an email wins; later ones are rejected.
const qRejectDuplicateEmails = `
DELETE FROM roster_stage s
USING (SELECT line, first_value(line) OVER w AS first, row_number() OVER w AS n
       FROM roster_stage WINDOW w AS (PARTITION BY email ORDER BY line)) d
WHERE s.line = d.line AND d.n > 1
RETURNING s.line, s.raw_email, 'duplicate email: first used on line ' || d.first`

const qRejectDuplicateEmployeeIDs = `
DELETE FROM roster_stage s
USING (SELECT line, first_value(line) OVER w AS first, row_number() OVER w AS n
       FROM roster_stage WHERE employee_id IS NOT NULL
       WINDOW w AS (PARTITION BY employee_id ORDER BY line)) d
WHERE s.line = d.line AND d.n > 1
RETURNING s.line, s.raw_email, 'duplicate employee_id ' || s.employee_id || ': first used on line ' || d.first`

// A forgotten person's address survives only as a hash: it must never come
// back. sha256 of the lower-cased address matches store.HashEmail.
const qRejectForgotten = `
DELETE FROM roster_stage s
USING suppressions p
WHERE p.email_hash = sha256(convert_to(s.email, 'UTF8')) AND p.reason = 'forgotten'
RETURNING s.line, s.raw_email, $1::text`

// employee_id is unique: a row may not take the id of another person.
const qRejectTakenEmployeeIDs = `
DELETE FROM roster_stage s
USING alumni a
WHERE a.employee_id = s.employee_id AND a.email IS DISTINCT FROM s.email
RETURNING s.line, s.raw_email, 'employee_id ' || s.employee_id || ' already belongs to another alumnus'`

// qUpsert merges each staged row with the stored one in the SELECT (an
// empty cell keeps the stored value), so that EXCLUDED carries the final
// values and the update can skip rows that would not change. Status is set
// only for new people (from the suppression list) and never touched on
// update: an import re-activates nobody. $1 is the import time, $2 the
// default consent source.
const qUpsert = `
WITH up AS (
    INSERT INTO alumni AS t (email, family_name, given_name, family_name_kana, given_name_kana,
        employee_id, department, joined_on, left_on, locale, timezone, tags,
        consent, consented_at, consent_source, status, status_changed_at)
    SELECT s.email,
        COALESCE(s.family_name, a.family_name, ''),
        COALESCE(s.given_name, a.given_name, ''),
        COALESCE(s.family_name_kana, a.family_name_kana, ''),
        COALESCE(s.given_name_kana, a.given_name_kana, ''),
        COALESCE(s.employee_id, a.employee_id),
        COALESCE(s.department, a.department, ''),
        COALESCE(s.joined_on, a.joined_on),
        COALESCE(s.left_on, a.left_on),
        CASE WHEN a.locale_chosen_at IS NOT NULL THEN a.locale ELSE COALESCE(s.locale, a.locale, 'ja') END,
        COALESCE(s.timezone, a.timezone, 'Asia/Tokyo'),
        COALESCE(s.tags, a.tags, '{}'),
        COALESCE(s.consent, a.consent, false),
        CASE WHEN s.consented_at IS NOT NULL THEN s.consented_at
             WHEN s.consent AND (NOT COALESCE(a.consent, false) OR a.consented_at IS NULL) THEN $1::timestamptz
             ELSE a.consented_at END,
        CASE WHEN s.consent_source IS NOT NULL THEN s.consent_source
             WHEN s.consent AND (NOT COALESCE(a.consent, false) OR COALESCE(a.consent_source, '') = '') THEN $2::text
             ELSE COALESCE(a.consent_source, '') END,
        CASE p.reason WHEN 'unsubscribed' THEN 'unsubscribed' WHEN 'bounced' THEN 'bounced' ELSE 'active' END,
        CASE WHEN p.reason IS NOT NULL THEN $1::timestamptz END
    FROM roster_stage s
    LEFT JOIN alumni a ON a.email = s.email
    LEFT JOIN suppressions p ON a.id IS NULL AND p.email_hash = sha256(convert_to(s.email, 'UTF8'))
    ORDER BY s.line -- new people get ids in file order, which export keeps
    ON CONFLICT (email) DO UPDATE SET
        family_name = EXCLUDED.family_name, given_name = EXCLUDED.given_name,
        family_name_kana = EXCLUDED.family_name_kana, given_name_kana = EXCLUDED.given_name_kana,
        employee_id = EXCLUDED.employee_id, department = EXCLUDED.department,
        joined_on = EXCLUDED.joined_on, left_on = EXCLUDED.left_on,
        locale = EXCLUDED.locale, timezone = EXCLUDED.timezone, tags = EXCLUDED.tags,
        consent = EXCLUDED.consent, consented_at = EXCLUDED.consented_at,
        consent_source = EXCLUDED.consent_source, updated_at = now()
    WHERE (t.family_name, t.given_name, t.family_name_kana, t.given_name_kana, t.employee_id,
           t.department, t.joined_on, t.left_on, t.locale, t.timezone, t.tags,
           t.consent, t.consented_at, t.consent_source)
        IS DISTINCT FROM
          (EXCLUDED.family_name, EXCLUDED.given_name, EXCLUDED.family_name_kana, EXCLUDED.given_name_kana,
           EXCLUDED.employee_id, EXCLUDED.department, EXCLUDED.joined_on, EXCLUDED.left_on,
           EXCLUDED.locale, EXCLUDED.timezone, EXCLUDED.tags,
           EXCLUDED.consent, EXCLUDED.consented_at, EXCLUDED.consent_source)
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up`

// qSuppressAlumni: $1 lower-cased addresses, $2 the new status (the
// suppression reason and the alumni status share their names).
const qSuppressAlumni = `
UPDATE alumni SET status = $2, status_changed_at = now(), updated_at = now()
WHERE email = ANY($1) AND status = 'active'`

// qSuppressHashes: $1 SHA-256 hashes of the addresses, $2 the reason.
const qSuppressHashes = `
INSERT INTO suppressions (email_hash, reason)
SELECT h, $2 FROM unnest($1::bytea[]) h
ON CONFLICT (email_hash) DO NOTHING`

// qForgetAlumnus clears every personal column: $1 alumni id, $2 now.
const qForgetAlumnus = `UPDATE alumni SET email = NULL, family_name = '', given_name = '',
        family_name_kana = '', given_name_kana = '', employee_id = NULL, department = '',
        joined_on = NULL, left_on = NULL, locale = 'ja', timezone = 'Asia/Tokyo', tags = '{}',
        consent = false, consented_at = NULL, consent_source = '', mail_kinds = 'all', locale_chosen_at = NULL,
        status = 'forgotten', status_changed_at = $2, updated_at = $2
        WHERE id = $1`

// qImportWorkMem gives the import's sorts and hashes room in memory (this
// transaction only).
const qImportWorkMem = `SET LOCAL work_mem = '64MB'`

// qSetPreferences saves what mail a person wants and their language (a
// later import keeps that language: locale_chosen_at): $1 alumni id, $2
// mail kinds (all | newsletter | event), $3 locale (ja | en).
// A forgotten person (no address) has nothing to save.
const qSetPreferences = `
UPDATE alumni SET mail_kinds = $2, locale = $3, locale_chosen_at = now(), updated_at = now()
WHERE id = $1 AND email IS NOT NULL`

// qMailKinds: $1 alumni id.
const qMailKinds = `SELECT mail_kinds FROM alumni WHERE id = $1`
