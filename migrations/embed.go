// Package migrations holds Kizuna's forward-only SQL schema migrations,
// embedded in the binary. Files are named NNNN_name.sql and applied in order.
package migrations

import "embed"

// FS holds every migration file.
//
//go:embed *.sql
var FS embed.FS
