-- deliveries.run_id and deliveries.alumni_id lose their foreign keys.
--
-- Each was checked for every delivery an expansion inserts: a lookup with
-- a row lock (FOR KEY SHARE) on the run and on the alumnus, about 7 µs of
-- the ~12 µs Postgres spent per inserted delivery (issue 13). What they
-- guarded cannot happen: nothing deletes a run or an alumnus (a person is
-- "forgotten" by erasing their fields; runs end as done or cancelled), and
-- TestNothingDeletesAlumniOrRuns (internal/store) fails when SQL that
-- deletes or truncates either table appears. Deliveries are written only
-- by internal/runs, from a run it just read and alumni it selects in the
-- same statement.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_run_id_fkey;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_alumni_id_fkey;
