package main

import (
	"regexp"
	"strings"
	"testing"
)

// dateTime finds a date with a time of day, and whatever follows it.
var dateTime = regexp.MustCompile(`\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?(\.\d+)?(\S*)( [A-Z]{3,4})?`)

// zonedTimes fails t for every date-time in text that is not written the
// way people read times in Kizuna: "2026-12-01 10:00 JST" (seconds allowed).
func zonedTimes(t *testing.T, what, text string) {
	t.Helper()
	found := dateTime.FindAllString(text, -1)
	if len(found) == 0 {
		t.Errorf("%s: no time in %q", what, text)
	}
	ok := regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})? JST$`)
	for _, s := range found {
		if !ok.MatchString(s) {
			t.Errorf("%s: time %q is not shown as \"2006-01-02 15:04 JST\":\n%s", what, s, text)
		}
	}
}

// Every time a person reads on the terminal carries its zone.
func TestTimesShowTheirZone(t *testing.T) {
	t.Parallel()
	_, env := controlEnv(t)

	code, out, errOut := runApp(t, env, "alumni", "show", "a@example.jp")
	if code != 0 {
		t.Fatalf("alumni show: exit %d %s", code, errOut)
	}
	zonedTimes(t, "alumni show (consented_at)", out)

	code, out, errOut = runApp(t, env, "campaign", "status", "sent-news")
	if code != 0 {
		t.Fatalf("campaign status: exit %d %s", code, errOut)
	}
	zonedTimes(t, "campaign status", out)

	code, out, errOut = runApp(t, env, "campaign", "list")
	if code != 0 {
		t.Fatalf("campaign list: exit %d %s", code, errOut)
	}
	zonedTimes(t, "campaign list", out)

	// A second start without --again names when the first run started.
	dir := campaignFolder(t, nil)
	file := writeCampaign(t, dir, "sent-news", "")
	code, _, errOut = runApp(t, env, "campaign", "start", file, "--yes")
	if code != 2 || !strings.Contains(errOut, "--again") {
		t.Fatalf("start again without --again: exit %d %s", code, errOut)
	}
	zonedTimes(t, "campaign start (already has a run)", errOut)

	// --watch off a terminal prints a time before each line.
	if code, _, errOut := runApp(t, env, "campaign", "cancel", "sent-news"); code != 0 {
		t.Fatalf("cancel: exit %d %s", code, errOut)
	}
	code, out, errOut = runApp(t, env, "campaign", "status", "sent-news", "--watch")
	if code != 0 {
		t.Fatalf("status --watch: exit %d %s", code, errOut)
	}
	zonedTimes(t, "campaign status --watch", out)
}
