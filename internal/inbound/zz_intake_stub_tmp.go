package inbound

// TEMP stub: the types helper G defines in processor.go (intake). The lead
// deletes this file when the intake branch is merged.

import (
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/token"
)

// Processor classifies stored inbound mail and acts on it.
type Processor struct {
	DB      *sqlx.DB
	Signer  *token.Signer
	Address string       // KIZUNA_INBOUND_ADDRESS, e.g. reply@in.example.co.jp
	Enqueue runs.Enqueue // hands RSVP notices to the queue; nil: the reconciler does
	Log     *slog.Logger
}

// Stored is one stored inbound message.
type Stored struct {
	ID           int64
	ReceivedAt   time.Time
	Source       string
	EnvelopeFrom string
	EnvelopeTo   []string
	Raw          []byte
	Truncated    bool
}

// Outcome is what processing one message did.
type Outcome struct {
	DeliveryID int64
	Did        []string
}
