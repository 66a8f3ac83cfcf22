package web

// STUB — replaced by the opens/clicks work (eventRecorder with group commit).

import (
	"context"
	"log/slog"

	"github.com/jmoiron/sqlx"
)

type eventRecorder struct{}

func newEventRecorder(db *sqlx.DB, log *slog.Logger) *eventRecorder { return &eventRecorder{} }

func (r *eventRecorder) loop(ctx context.Context) { <-ctx.Done() }
