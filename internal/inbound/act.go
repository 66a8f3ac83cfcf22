package inbound

import (
	"context"

	"github.com/jmoiron/sqlx"

	"github.com/kizuna-alumni/kizuna/internal/inbound/classify"
)

// act is a TEMPORARY stand-in until attribution and effects are merged:
// it attributes nothing and does nothing.
func (p *Processor) act(ctx context.Context, tx *sqlx.Tx, m Stored, r classify.Result) (Outcome, error) {
	return Outcome{}, nil
}
