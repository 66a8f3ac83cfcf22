package classify

import "github.com/emersion/go-message"

// parseReport is a stand-in until the delivery-status parser is merged.
func parseReport(e *message.Entity) (Result, bool) { return Result{}, false }

// parseBounce is a stand-in until the non-standard bounce parser is merged.
func parseBounce(h *message.Header, e *message.Entity, text string) (Result, bool) {
	return Result{}, false
}
