package web

import (
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/campaigns"
)

// TestRSVPTextHasEveryKeyInEveryLocale: the RSVP page never shows an
// empty string because one language lacks a sentence.
func TestRSVPTextHasEveryKeyInEveryLocale(t *testing.T) {
	for _, pair := range [][2]string{{"ja", "en"}, {"en", "ja"}} {
		for key, v := range rsvpText[pair[0]] {
			if v == "" || rsvpText[pair[1]][key] == "" {
				t.Errorf("%q is empty in %s or missing in %s", key, pair[0], pair[1])
			}
		}
	}
	for _, lang := range []string{"ja", "en"} {
		for _, key := range []string{"sender", "contact", "other_lang", "error_title", "test_copy_title"} {
			if rsvpWords[lang][key] == "" {
				t.Errorf("the RSVP page's words in %s lack the shared %q", lang, key)
			}
		}
	}
}

func TestRSVPWhenInTheReadersAndTheEventsZone(t *testing.T) {
	jst := time.FixedZone("JST", 9*3600)
	ev := func(start, end time.Time) *campaigns.Campaign {
		return &campaigns.Campaign{Event: &campaigns.Event{StartsAt: start, EndsAt: end}}
	}
	evening := ev(time.Date(2030, 12, 20, 19, 0, 0, 0, jst), time.Date(2030, 12, 20, 21, 0, 0, 0, jst))
	late := ev(time.Date(2030, 12, 20, 23, 0, 0, 0, jst), time.Date(2030, 12, 21, 2, 0, 0, 0, jst))
	for _, c := range []struct {
		c               *campaigns.Campaign
		lang, zone      string
		when, venueTime string
	}{
		{evening, "ja", "Asia/Tokyo", "2030年12月20日(金) 19:00 〜 21:00", ""},
		{evening, "en", "Asia/Tokyo", "Fri, 20 Dec 2030, 19:00 – 21:00 JST", ""},
		{evening, "ja", "", "2030年12月20日(金) 19:00 〜 21:00", ""}, // no zone: Tokyo
		{evening, "en", "Europe/London", "Fri, 20 Dec 2030, 10:00 – 12:00 GMT", "Fri, 20 Dec 2030, 19:00 – 21:00 JST"},
		{evening, "ja", "America/Sao_Paulo", "2030年12月20日(金) 07:00 〜 09:00 UTC-03", "2030年12月20日(金) 19:00 〜 21:00 JST"},
		{late, "ja", "Asia/Tokyo", "2030年12月20日(金) 23:00 〜 2030年12月21日(土) 02:00", ""},
		{late, "en", "Asia/Tokyo", "Fri, 20 Dec 2030, 23:00 JST – Sat, 21 Dec 2030, 02:00 JST", ""},
		{late, "en", "America/Los_Angeles", "Fri, 20 Dec 2030, 06:00 – 09:00 PST", "Fri, 20 Dec 2030, 23:00 JST – Sat, 21 Dec 2030, 02:00 JST"},
	} {
		when, venue := rsvpWhen(c.c, c.lang, c.zone)
		if when != c.when || venue != c.venueTime {
			t.Errorf("%s in %q: %q / %q, want %q / %q", c.lang, c.zone, when, venue, c.when, c.venueTime)
		}
	}
}
