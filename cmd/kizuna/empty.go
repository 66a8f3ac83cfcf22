package main

import (
	"fmt"
	"strings"

	"github.com/kizuna-alumni/kizuna/internal/runs"
)

// recipients is "1 recipient" or "N recipients".
func recipients(n int64) string {
	if n == 1 {
		return "1 recipient"
	}
	return fmt.Sprintf("%d recipients", n)
}

// emptySummary is the validate table's note on empty values: each field
// some recipient lacks, with its locale, count and fallback ("" when no
// recipient lacks anything).
func emptySummary(es []runs.EmptyCount) string {
	var parts []string
	for _, e := range es {
		if e.Count == 0 {
			continue
		}
		how := "(no fallback)"
		if e.Fallback != nil {
			how = fmt.Sprintf("(fallback %q)", *e.Fallback)
		}
		parts = append(parts, fmt.Sprintf("%s %s %d %s", e.Field, e.Locale, e.Count, how))
	}
	if len(parts) == 0 {
		return ""
	}
	return "empty: " + strings.Join(parts, ", ")
}

// emptyFallbacksUsed says, one line each, which recipients get a fallback.
func emptyFallbacksUsed(es []runs.EmptyCount) []string {
	var out []string
	for _, e := range es {
		if e.Count > 0 && e.Fallback != nil {
			verb := "gets"
			if e.Count != 1 {
				verb = "get"
			}
			out = append(out, fmt.Sprintf("%s %s the fallback %q for {{.%s}} (%s)", recipients(e.Count), verb, *e.Fallback, e.Field, e.Locale))
		}
	}
	return out
}

// emptyUncovered describes the empty values no fallback covers
// (runs.DescribeUncovered); "" when there are none.
func emptyUncovered(es []runs.EmptyCount) string { return runs.DescribeUncovered(es) }

// emptyHint tells how to fix or accept empty values.
const emptyHint = `give a fallback per locale under fallback: in the campaign or kizuna.yaml, e.g. fallback: { ja: { FamilyName: "アルムナイの皆" } } gives "アルムナイの皆様"; or pass --yes-empty to send the empty values`
