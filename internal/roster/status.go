package roster

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/store"
)

// StatusError says that a person's status does not allow the change asked
// for (resubscribing someone who bounced, for example).
type StatusError struct {
	Email  string
	Status string
	Action string
	Why    string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: the alumnus is %s; %s", e.Action, e.Email, e.Status, e.Why)
}

// Outcome says what a status change did.
type Outcome string

// Outcomes of Unsubscribe and Forget.
const (
	Changed       Outcome = "changed"        // the person's status changed
	AlreadyDone   Outcome = "already"        // nothing to do: already in that state
	NotMailed     Outcome = "not-mailed"     // bounced or forgotten: already never mailed
	SuppressedNew Outcome = "suppressed-new" // not in the roster; the address is now suppressed
)

// Unsubscribe stops all mail to a person: status unsubscribed and a
// suppression entry. It is idempotent. Someone who bounced keeps that status
// (they are not mailed either way). An address not in the roster is still
// suppressed, so that a later import adds it as unsubscribed; the outcome
// is then SuppressedNew and the error wraps store.ErrNotFound.
func (s *Store) Unsubscribe(ctx context.Context, email string) (Outcome, error) {
	addr := normalize(email)
	var out Outcome
	err := store.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		status, err := lockStatus(ctx, tx, addr)
		if err != nil {
			return err
		}
		switch status {
		case "":
			out = SuppressedNew
		case StatusActive:
			out = Changed
		case StatusUnsubscribed:
			out = AlreadyDone
		default:
			out = NotMailed
		}
		return Suppress(ctx, tx, SuppressUnsubscribed, []string{addr})
	})
	if err != nil {
		return out, fmt.Errorf("unsubscribe %s: %w", email, err)
	}
	if out == SuppressedNew {
		return out, fmt.Errorf("no alumnus with address %q (the address is now on the suppression list, so it is never mailed): %w", email, store.ErrNotFound)
	}
	return out, nil
}

// Resubscribe undoes an unsubscribe with a new consent record: status
// active, consent yes, consented_at now, consent_source source. Only
// unsubscribed people can be resubscribed; others get a *StatusError.
func (s *Store) Resubscribe(ctx context.Context, email, source string) error {
	source = strings.TrimSpace(source)
	if source == "" {
		return fmt.Errorf("resubscribe %s: a consent source is required (how and when the person asked again)", email)
	}
	if c, bad := badChar(source); bad {
		return fmt.Errorf("resubscribe %s: the consent source contains a control character (%U)", email, c)
	}
	if len([]rune(source)) > MaxFieldChars {
		return fmt.Errorf("resubscribe %s: the consent source is longer than %d characters", email, MaxFieldChars)
	}
	addr := normalize(email)
	return store.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		status, err := lockStatus(ctx, tx, addr)
		if err != nil {
			return fmt.Errorf("resubscribe %s: %w", email, err)
		}
		switch status {
		case "":
			var reason string
			err := tx.GetContext(ctx, &reason, qSuppressionReason, store.HashEmail(addr))
			if err == nil && reason == "forgotten" {
				return &StatusError{Email: email, Status: "forgotten", Action: "resubscribe",
					Why: "the address was erased at the person's request and is never mailed again"}
			}
			return fmt.Errorf("no alumnus with address %q: %w", email, store.ErrNotFound)
		case "unsubscribed":
		case "active":
			return &StatusError{Email: email, Status: status, Action: "resubscribe", Why: "only an unsubscribed alumnus can be resubscribed"}
		default:
			return &StatusError{Email: email, Status: status, Action: "resubscribe",
				Why: "a bounced address is not mailed again; import the person's new address instead"}
		}
		now := s.now()
		if _, err := tx.ExecContext(ctx, qResubscribe, addr, now, source); err != nil {
			return fmt.Errorf("resubscribe %s: %w", email, err)
		}
		if _, err := tx.ExecContext(ctx, qUnsuppress, store.HashEmail(addr)); err != nil {
			return fmt.Errorf("resubscribe %s: %w", email, err)
		}
		return nil
	})
}

// Forget erases a person's personal data everywhere Kizuna stores it (an
// APPI or GDPR erasure request) and keeps only the SHA-256 of the address in
// the suppression list, so that they are never mailed, or imported, again.
// The alumni row stays (deliveries and RSVPs point at it) with every
// personal column cleared. An address not in the roster is suppressed all
// the same (outcome SuppressedNew, no error).
func (s *Store) Forget(ctx context.Context, email string) (Outcome, error) {
	addr := normalize(email)
	out := Changed
	err := store.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, qLockAlumnusID, addr).Scan(&id)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			out = SuppressedNew
		case err != nil:
			return err
		default:
			if err := runs.EraseAlumnus(ctx, tx, id, s.now()); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, qForgetAlumnus, id, s.now()); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, qSuppressForgotten, store.HashEmail(addr), s.now())
		return err
	})
	if err != nil {
		return out, fmt.Errorf("forget: %w", err)
	}
	return out, nil
}

// UnsubscribeAlumnus stops all mail to the alumnus whose address is email,
// in tx (the caller's transaction, which records what asked for it): as
// Unsubscribe, but only for a person in the roster. It is for a request to
// stop that names no delivery (mail sent from the alumnus's own address):
// an address that is not in the roster changes nothing, since anyone can
// write any From, and gives outcome "" and an error wrapping
// store.ErrNotFound. Someone who bounced keeps that status (NotMailed);
// someone already unsubscribed gives AlreadyDone.
func UnsubscribeAlumnus(ctx context.Context, tx *sqlx.Tx, email string) (Outcome, error) {
	addr := normalize(email)
	status, err := lockStatus(ctx, tx, addr)
	if err != nil {
		return "", fmt.Errorf("unsubscribe %s: %w", email, err)
	}
	var out Outcome
	switch status {
	case "":
		return "", fmt.Errorf("unsubscribe %s: no alumnus with that address: %w", email, store.ErrNotFound)
	case StatusActive:
		out = Changed
	case StatusUnsubscribed:
		out = AlreadyDone
	default:
		out = NotMailed
	}
	if err := Suppress(ctx, tx, SuppressUnsubscribed, []string{addr}); err != nil {
		return "", fmt.Errorf("unsubscribe %s: %w", email, err)
	}
	return out, nil
}

// lockStatus returns the status of the alumnus with addr, locking the row,
// or "" when there is none.
func lockStatus(ctx context.Context, tx *sqlx.Tx, addr string) (string, error) {
	var status string
	err := tx.QueryRowContext(ctx, qLockStatus, addr).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return status, err
}
