package classify

import "testing"

// Requests to stop by subject, and the negated or conversational subjects
// that name the words without asking to stop (a person who asks not to be
// unsubscribed must never be unsubscribed).
func TestUnsubscribeSubjectNegation(t *testing.T) {
	cases := []struct {
		subject string
		want    bool
	}{
		// Requests.
		{"Unsubscribe", true},
		{"How do I unsubscribe?", true},
		{"Re: how do I unsubscribe from this list", true},
		{"Unsubscribe not working", true},
		{"Can't unsubscribe", true},
		{"I cannot unsubscribe, please remove me", true},
		{"Could not opt out", true},
		{"Don't want these anymore. Unsubscribe", true},
		{"I don't read these - please unsubscribe me", true},
		{"Please remove me from this list", true},
		{"Never mind the survey, unsubscribe me", true},
		{"Never mind unsubscribe me", true},
		{"Re: アルムナイ通信【配信停止希望】", true},
		{"配信停止をお願いします", true},
		{"配信停止できません", true},
		{"配信停止されない", true},
		{"配信停止希望、メール不要", true},
		{"退会します", true},
		// Negated: never a request.
		{"Re: Please do NOT unsubscribe me", false},
		{"Please don't unsubscribe me", false},
		{"Please don’t unsubscribe me", false},
		{"Do not remove me from the list", false},
		{"I never asked to unsubscribe", false},
		{"I do not want to unsubscribe", false},
		{"Not unsubscribe — just changing my address", false},
		{"Re: unsubscribed by mistake", false},
		{"Accidentally unsubscribed, please add me back", false},
		{"Undo unsubscribe", false},
		{"No need to unsubscribe me", false},
		{"Don't stop sending!", false},
		{"配信停止しないで", false},
		{"配信停止しないでください", false},
		{"Re: アルムナイ通信 配信停止は不要です", false},
		{"配信停止はしないでください", false},
		{"配信停止は希望しません", false},
		{"配信停止の取り消し", false},
		{"配信解除しないでください", false},
		{"解除しないでください", false},
		{"退会しません", false},
		{"退会はしません", false},
	}
	for _, c := range cases {
		if got := unsubscribeSubject(c.subject); got != c.want {
			t.Errorf("unsubscribeSubject(%q) = %v, want %v", c.subject, got, c.want)
		}
	}
}
