package classify

import (
	"strings"

	"github.com/emersion/go-message"
	"golang.org/x/text/unicode/norm"
)

// automatic reports the header marks of a machine-sent reply:
//   - Auto-Submitted with any value but "no" (RFC 3834 §5: auto-replied,
//     auto-generated, auto-notified);
//   - X-Autoreply, X-Autorespond, X-Autoresponder (vacation programs,
//     qmail's autorespond; any value but "no");
//   - Precedence: auto_reply, or junk (BSD vacation(1)); bulk alone is a
//     list's mark, not an auto reply;
//   - X-Apple-Action: vacation (iCloud Mail);
//   - X-MS-Exchange-Inbox-Rules-Loop together with X-Auto-Response-Suppress
//     (an Exchange/Microsoft 365 automatic reply or rule; the suppress
//     header alone is only a request not to be answered);
//   - a null Return-Path (RFC 3834 §2: a notice, never a person).
func automatic(h message.Header) bool {
	token := func(k string) string {
		v := strings.ToLower(strings.TrimSpace(h.Get(k)))
		if i := strings.IndexAny(v, "; \t("); i >= 0 {
			v = v[:i]
		}
		return v
	}
	if v := token("Auto-Submitted"); v != "" && v != "no" {
		return true
	}
	for _, k := range []string{"X-Autoreply", "X-Autorespond", "X-Autoresponder"} {
		if h.Has(k) {
			if v := token(k); v != "no" && v != "false" && v != "0" {
				return true
			}
		}
	}
	switch token("Precedence") {
	case "auto_reply", "auto-reply", "junk":
		return true
	}
	if token("X-Apple-Action") == "vacation" {
		return true
	}
	if h.Has("X-Ms-Exchange-Inbox-Rules-Loop") && h.Has("X-Auto-Response-Suppress") {
		return true
	}
	if rp := strings.TrimSpace(h.Get("Return-Path")); h.Has("Return-Path") && (rp == "<>" || rp == "") {
		return true
	}
	return false
}

// foldSubject normalises a subject for matching: NFKC (full-width
// letters and half-width katakana become ordinary ones), lower case,
// single spaces.
func foldSubject(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(norm.NFKC.String(s))), " ")
}

// replyPrefixes start the subject of a reply or forward in the clients
// alumni use (English, German, Nordic, Japanese Outlook and iPhone).
var replyPrefixes = []string{"re:", "re :", "fwd:", "fw:", "aw:", "wg:", "sv:", "vs:", "tr:", "返信:", "転送:", "re>", "re^2:"}

// ownPart is the part of a subject its writer typed: the whole subject
// when it is not a reply, else what comes before the first reply prefix
// ("自動応答: Re: …" gives "自動応答:"). A subject that starts with a
// prefix quotes the original subject, which is ours and says nothing
// about the answer.
func ownPart(s string) string {
	first := len(s)
	for _, p := range replyPrefixes {
		for i := 0; i+len(p) <= len(s); {
			j := strings.Index(s[i:], p)
			if j < 0 {
				break
			}
			j += i
			// A prefix is a word of its own: "store:" is not "re:".
			if j == 0 || s[j-1] == ' ' || s[j-1] == '[' || s[j-1] == ':' {
				if j < first {
					first = j
				}
				break
			}
			i = j + 1
		}
	}
	return strings.TrimSpace(s[:first])
}

// autoReplyWords mark an out-of-office or automatic answer when its sender
// wrote them (domain.md §4: Outlook's "Automatic reply:" and "自動応答:",
// Lotus Notes' "AUTO:", Exchange's "OOF:", Gmail/iCloud vacation subjects
// users write, German "Abwesenheitsnotiz").
var autoReplyWords = []string{
	"自動応答", "自動返信", "自動返答", "自動送信", "不在", "休暇", "留守",
	"out of office", "out of the office", "automatic reply", "auto reply", "auto-reply", "autoreply",
	"automatic response", "auto response", "auto-response", "autoresponse", "vacation", "away from the office",
	"abwesenheit", "automatische antwort", "réponse automatique", "respuesta automática", "risposta automatica",
}

// autoReplyTail are suffixes some servers append to the original subject
// (AOL: "Re: … (Automatic Response)").
var autoReplyTail = []string{"(automatic response)", "(auto reply)", "(auto-reply)", "(out of office)", "(autoreply)", "(不在)", "(自動応答)", "(自動返信)"}

// autoReplySubject recognises an automatic reply by its subject.
func autoReplySubject(subject string) bool {
	s := foldSubject(subject)
	if s == "" {
		return false
	}
	own := ownPart(s)
	if strings.HasPrefix(own, "auto:") || strings.HasPrefix(own, "oof:") || strings.HasPrefix(own, "ooo:") {
		return true
	}
	for _, w := range autoReplyWords {
		if strings.Contains(own, w) {
			return true
		}
	}
	for _, t := range autoReplyTail {
		if strings.HasSuffix(s, t) {
			return true
		}
	}
	return false
}

// unsubscribeStrong are requests to stop that no newsletter subject of
// ours contains, so they count anywhere in the subject (a reply titled
// "Re: アルムナイ通信【配信停止希望】" asks to stop).
var unsubscribeStrong = []string{
	"配信停止", "配信解除", "配信不要", "登録解除", "購読解除", "購読停止", "メール停止", "メール不要",
	"退会希望", "退会依頼", "退会申請", "退会手続", "退会をお願い", "退会します", "退会したい",
	"unsubscribe", "opt out", "opt-out", "optout", "remove me", "take me off", "stop sending",
}

// unsubscribeWeak count only when they are the whole subject the writer
// typed: "退会" alone asks to leave, "Re: 退会者交流会のご案内" does not.
var unsubscribeWeak = []string{"退会", "停止", "解除", "stop", "remove"}

// unsubscribeSubject recognises a request to stop by its subject.
func unsubscribeSubject(subject string) bool {
	s := foldSubject(subject)
	if s == "" {
		return false
	}
	for _, w := range unsubscribeStrong {
		if strings.Contains(s, w) {
			return true
		}
	}
	own := strings.Trim(ownPart(s), " .。!！:：[]【】「」")
	for _, w := range unsubscribeWeak {
		if own == w {
			return true
		}
	}
	return false
}
