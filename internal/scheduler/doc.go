// Package scheduler turns the campaigns folder into runs: it reloads the
// folder when its files change, computes each campaign's due occurrences
// (a one-off at, a recurring 5-field cron in its time zone, the reminders of
// an event) with an injected clock, and starts one run per occurrence.
// Runs are unique per (campaign, occurrence) in Postgres, so any number of
// schedulers may run at once on any number of machines.
package scheduler
