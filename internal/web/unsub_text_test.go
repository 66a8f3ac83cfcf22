package web

import "testing"

// TestUnsubTextHasEveryKeyInEveryLocale: a page never shows an empty
// string because one language lacks a sentence.
func TestUnsubTextHasEveryKeyInEveryLocale(t *testing.T) {
	for key := range unsubText["ja"] {
		if unsubText["en"][key] == "" {
			t.Errorf("en lacks %q", key)
		}
	}
	for key := range unsubText["en"] {
		if unsubText["ja"][key] == "" {
			t.Errorf("ja lacks %q", key)
		}
	}
}
