package main

import (
	"strings"
	"testing"
)

// TestCampaignStatusShowsMachineOpensApart: a person's open counts in
// OPENED; Apple's prefetch and a scanner's click are on a line of their
// own, and in the JSON's machine_opens and scanner_clicks.
func TestCampaignStatusShowsMachineOpensApart(t *testing.T) {
	t.Parallel()
	db, env := failuresEnv(t)
	for _, q := range []string{
		`INSERT INTO delivery_events (delivery_id, kind, classification) SELECT d.id, 'open', 'human' FROM deliveries d JOIN alumni a ON a.id = d.alumni_id WHERE a.email = 'a@example.jp'`,
		`INSERT INTO delivery_events (delivery_id, kind, classification) SELECT d.id, 'open', 'apple_mpp' FROM deliveries d JOIN alumni a ON a.id = d.alumni_id WHERE a.email IN ('a@example.jp', 'b@example.jp')`,
		`INSERT INTO delivery_events (delivery_id, kind, classification, target) SELECT d.id, 'click', 'scanner', 'https://a.example/' FROM deliveries d JOIN alumni a ON a.id = d.alumni_id WHERE a.email = 'b@example.jp'`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	code, out, errOut := runApp(t, env, "campaign", "status", "sent-news")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if want := "run 1 machine opens (privacy proxies, scanners): 2, scanner clicks: 1"; !strings.Contains(out, want) {
		t.Errorf("status lacks %q:\n%s", want, out)
	}
	code, out, errOut = runApp(t, env, "campaign", "status", "sent-news", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{`"opened": 1`, `"clicked": 0`, `"machine_opens": 2`, `"scanner_clicks": 1`} {
		if !strings.Contains(out, want) {
			t.Errorf("--json lacks %s:\n%s", want, out)
		}
	}
}
