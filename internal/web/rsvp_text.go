package web

// rsvpText holds, per locale, the words of the RSVP page (GET /r/TOKEN)
// and its answers. Keys are the same in every locale (a test checks). The
// page's footer reuses unsubText's "sender" and "contact".
var rsvpText = map[string]map[string]string{
	"ja": {
		"kicker":           "イベントのご案内",
		"greeting":         "%s 様",
		"when":             "日時",
		"where":            "場所",
		"details":          "詳細",
		"venue_time":       "開催地の時刻",
		"range_sep":        " 〜 ",
		"map":              "地図を開く",
		"add_calendar":     "カレンダーに追加",
		"ics":              "Apple・Outlook など（.ics）",
		"google":           "Googleカレンダー",
		"answer_legend":    "ご出欠",
		"change_legend":    "ご回答の変更",
		"answer_yes":       "出席する",
		"answer_maybe":     "未定",
		"answer_no":        "欠席する",
		"submit":           "回答を送信する",
		"change_hint":      "回答期限: %s",
		"change_note":      "期限までは何度でも変更できます。",
		"current":          "現在のご回答",
		"state_yes":        "出席",
		"state_maybe":      "未定",
		"state_no":         "欠席",
		"state_waitlisted": "キャンセル待ち（%d番目）",
		"state_none":       "未回答",
		"done_yes":         "ありがとうございます。ご出席を承りました。当日お会いできるのを楽しみにしています。",
		"done_waitlisted":  "ありがとうございます。定員に達しているため、キャンセル待ち（%d番目）で承りました。お席が空き次第、メールでお知らせします。",
		"done_maybe":       "ありがとうございます。「未定」で承りました。ご予定が決まりましたら、このページから変更してください。",
		"done_no":          "ご回答ありがとうございます。ご欠席で承りました。またの機会にお会いできれば幸いです。",
		"done_mail":        "確認のメールをお送りします。",
		"closed":           "回答の受付は締め切りました（%s）。ご回答は変更できません。",
		"cancelled":        "このイベントは中止になりました。ご回答の必要はありません。",
		"closed_title":     "回答の受付は締め切りました",
		"closed_post":      "回答期限（%s）を過ぎているため、ご回答は変更していません。",
		"cancelled_title":  "このイベントは中止になりました",
		"cancelled_post":   "イベントが中止になったため、ご回答は変更していません。",
		"bad_answer_title": "ご回答を確認してください",
		"bad_answer":       "「出席する」「未定」「欠席する」のいずれかを選んでから送信してください。何も変更していません。",
		"back":             "回答ページに戻る",
		"test_copy":        "このリンクはテスト送信またはプレビューのものです。実際に配信されたメールでは、ここからご出欠を回答できます。何も記録していません。",
		"title":            "ご出欠の回答",
	},
	"en": {
		"kicker":           "Event invitation",
		"greeting":         "Invitation for %s",
		"when":             "When",
		"where":            "Where",
		"details":          "Details",
		"venue_time":       "Time at the venue",
		"range_sep":        " – ",
		"map":              "Open map",
		"add_calendar":     "Add to your calendar",
		"ics":              "Apple, Outlook… (.ics)",
		"google":           "Google Calendar",
		"answer_legend":    "Will you join us?",
		"change_legend":    "Change your answer",
		"answer_yes":       "Yes, I'll come",
		"answer_maybe":     "Maybe",
		"answer_no":        "No, I can't come",
		"submit":           "Send my answer",
		"change_hint":      "Please reply by %s.",
		"change_note":      "You can change your answer until then.",
		"current":          "Your answer",
		"state_yes":        "Attending",
		"state_maybe":      "Maybe",
		"state_no":         "Not attending",
		"state_waitlisted": "On the waiting list (number %d)",
		"state_none":       "Not answered yet",
		"done_yes":         "Thank you: you're in. We look forward to seeing you.",
		"done_waitlisted":  "Thank you. The event is full, so you are on the waiting list, number %d. We will email you as soon as a place opens up.",
		"done_maybe":       "Thank you: we noted your \"maybe\". Come back to this page to change it when you know.",
		"done_no":          "Thank you for letting us know: recorded as not attending. We hope to see you another time.",
		"done_mail":        "A confirmation email is on its way.",
		"closed":           "Answers closed on %s. Your answer can no longer change.",
		"cancelled":        "This event has been cancelled. There is no need to answer.",
		"closed_title":     "Answers are closed",
		"closed_post":      "The deadline (%s) has passed, so your answer was not changed.",
		"cancelled_title":  "This event has been cancelled",
		"cancelled_post":   "The event has been cancelled, so your answer was not changed.",
		"bad_answer_title": "Please check your answer",
		"bad_answer":       "Choose Yes, Maybe or No before sending. Nothing was changed.",
		"back":             "Back to the event",
		"test_copy":        "This link comes from a test copy or a preview. In a message that was really sent, it lets the reader answer. Nothing was recorded.",
		"title":            "Your RSVP",
	},
}

// rsvpWords is, per locale, the words an RSVP page is given as .T: the
// page's own and the shared footer's (unsubText).
var rsvpWords = func() map[string]map[string]string {
	out := map[string]map[string]string{}
	for lang, words := range rsvpText {
		m := map[string]string{}
		for k, v := range unsubText[lang] {
			m[k] = v
		}
		for k, v := range words {
			m[k] = v
		}
		out[lang] = m
	}
	return out
}()
