// Package e2e holds end-to-end tests of the real kizuna binary: each test
// builds nothing itself but drives the binary internal/testbin builds once, as
// separate processes, exactly as an operator would, against the real
// Postgres, Redis and an in-process SMTP relay, and reads the mail the relay
// received. The package has no non-test code.
package e2e
