package templates

import "fmt"

// Notice is Kizuna's own wording of one notice about an event in one
// language: the mails that follow an invitation (a reminder, a change, a
// cancellation, the confirmation of an answer, a waiting-list place). A
// notice replaces the campaign's subject and body; the theme, footer and
// greeting stay. Subject and Intros may hold the event fields
// ({{.Event.Title}}), which the render package substitutes.
type Notice struct {
	Subject string
	// Intros are the paragraphs before the event's details.
	Intros []string
	// RSVPPrompt stands above the RSVP buttons (for an answer already
	// given, it invites the reader to change it); empty: the notice has
	// no RSVP buttons (a cancellation).
	RSVPPrompt string
}

// noticesByLocale holds the wording by notice name (the names of
// render.Notice*, stored in deliveries.notice) and locale. Japanese uses
// 敬語 and no ASCII commas; English is short and plain.
var noticesByLocale = map[string]map[string]Notice{
	"reminder": {
		"ja": {
			Subject: "【リマインド】{{.Event.Title}}",
			Intros: []string{
				"「{{.Event.Title}}」の開催が近づいてまいりましたので、ご案内申し上げます。",
				"ご出席のご回答をいただき、誠にありがとうございます。当日お目にかかれますことを心より楽しみにしております。",
			},
			RSVPPrompt: "ご予定に変更が生じた場合は、お手数ですが以下よりご回答の変更をお願いいたします。",
		},
		"en": {
			Subject: "Reminder: {{.Event.Title}}",
			Intros: []string{
				"This is a reminder that {{.Event.Title}} is coming up soon.",
				"Thank you for letting us know you will come. We look forward to seeing you.",
			},
			RSVPPrompt: "If your plans change, you can change your answer here.",
		},
	},
	"update": {
		"ja": {
			Subject: "【変更】{{.Event.Title}}",
			Intros: []string{
				"「{{.Event.Title}}」の開催内容に変更がございましたので、お知らせいたします。",
				"変更後の内容は以下のとおりです。お手数をおかけいたしますが、ご確認のほどよろしくお願い申し上げます。",
			},
			RSVPPrompt: "変更によりご予定に変更が生じた場合は、以下よりご回答を変更いただけます。",
		},
		"en": {
			Subject: "Updated: {{.Event.Title}}",
			Intros: []string{
				"The details of {{.Event.Title}} have changed.",
				"Please check the updated details below.",
			},
			RSVPPrompt: "If the change affects your plans, you can change your answer here.",
		},
	},
	"cancellation": {
		"ja": {
			Subject: "【中止】{{.Event.Title}}",
			Intros: []string{
				"誠に恐れ入りますが、開催を予定しておりました「{{.Event.Title}}」は、中止させていただくこととなりました。",
				"ご予定をお空けいただいていた皆様には多大なるご迷惑をおかけいたしますこと、心よりお詫び申し上げます。またの機会にお目にかかれますと幸いです。",
			},
		},
		"en": {
			Subject: "Cancelled: {{.Event.Title}}",
			Intros: []string{
				"We are sorry to let you know that {{.Event.Title}} has been cancelled.",
				"We apologise for any inconvenience and hope to see you at another event.",
			},
		},
	},
	"confirm_yes": {
		"ja": {
			Subject: "ご出席を承りました：{{.Event.Title}}",
			Intros: []string{
				"「{{.Event.Title}}」へのご出席を承りました。ご回答いただき、誠にありがとうございます。",
				"当日お目にかかれますことを心より楽しみにしております。",
			},
			RSVPPrompt: "ご予定に変更が生じた場合は、以下よりご回答を変更いただけます。",
		},
		"en": {
			Subject: "You're in: {{.Event.Title}}",
			Intros: []string{
				"Thank you for your answer: you are coming to {{.Event.Title}}.",
				"We look forward to seeing you.",
			},
			RSVPPrompt: "If your plans change, you can change your answer here.",
		},
	},
	"confirm_maybe": {
		"ja": {
			Subject: "ご回答（未定）を承りました：{{.Event.Title}}",
			Intros: []string{
				"「{{.Event.Title}}」について、ご回答（未定）を承りました。ご連絡いただき、誠にありがとうございます。",
			},
			RSVPPrompt: "ご出欠が決まりましたら、以下よりご回答を変更いただけますと幸いです。",
		},
		"en": {
			Subject: "We noted your “maybe”: {{.Event.Title}}",
			Intros: []string{
				"Thank you: we have noted your “maybe” for {{.Event.Title}}.",
			},
			RSVPPrompt: "Once you know, please change your answer here.",
		},
	},
	"confirm_no": {
		"ja": {
			Subject: "ご欠席を承りました：{{.Event.Title}}",
			Intros: []string{
				"「{{.Event.Title}}」へのご欠席を承りました。ご連絡いただき、誠にありがとうございます。",
				"今回はお目にかかれず残念ですが、またの機会にお会いできますことを楽しみにしております。",
			},
			RSVPPrompt: "ご予定に変更が生じた場合は、以下よりご回答を変更いただけます。",
		},
		"en": {
			Subject: "Sorry you can't make it: {{.Event.Title}}",
			Intros: []string{
				"Thank you for letting us know that you cannot come to {{.Event.Title}}.",
				"We are sorry to miss you and hope to see you another time.",
			},
			RSVPPrompt: "If your plans change, you can change your answer here.",
		},
	},
	"waitlisted": {
		"ja": {
			Subject: "キャンセル待ちで承りました：{{.Event.Title}}",
			Intros: []string{
				"「{{.Event.Title}}」へのご出席のお申し込みをいただき、誠にありがとうございます。",
				"あいにく定員に達しておりますため、キャンセル待ちとして承りました。お席をご用意できましたら、改めてメールにてご連絡いたします。",
			},
			RSVPPrompt: "ご予定に変更が生じた場合は、以下よりご回答を変更いただけます。",
		},
		"en": {
			Subject: "You're on the waiting list: {{.Event.Title}}",
			Intros: []string{
				"Thank you for your answer. {{.Event.Title}} is full, so we have put you on the waiting list.",
				"If a place opens up, we will let you know by email.",
			},
			RSVPPrompt: "If your plans change, you can change your answer here.",
		},
	},
	"promoted": {
		"ja": {
			Subject: "お席をご用意できました：{{.Event.Title}}",
			Intros: []string{
				"キャンセル待ちでお申し込みいただいておりました「{{.Event.Title}}」について、お席をご用意できましたのでお知らせいたします。",
				"ご出席として承っております。当日お目にかかれますことを心より楽しみにしております。",
			},
			RSVPPrompt: "ご都合が合わなくなった場合は、次にお待ちの方へお席をお譲りできるよう、以下よりご回答の変更をお願いいたします。",
		},
		"en": {
			Subject: "A place opened up, you're in: {{.Event.Title}}",
			Intros: []string{
				"Good news: a place has opened up at {{.Event.Title}}, and you are now on the guest list.",
				"If you can no longer come, please change your answer below so that the place can go to the next person.",
			},
			RSVPPrompt: "You can change your answer here.",
		},
	},
}

// NoticeFor returns the wording of notice ("reminder", "update",
// "cancellation", "confirm_yes", "confirm_no", "confirm_maybe",
// "waitlisted", "promoted") in locale ("ja" or "en"); an error for an
// unknown notice or locale.
func NoticeFor(notice, locale string) (Notice, error) {
	byLocale, ok := noticesByLocale[notice]
	if !ok {
		return Notice{}, fmt.Errorf("unknown notice %q", notice)
	}
	n, ok := byLocale[locale]
	if !ok {
		return Notice{}, fmt.Errorf("unknown locale %q (want ja or en)", locale)
	}
	n.Intros = append([]string(nil), n.Intros...) // the caller may keep it
	return n, nil
}
