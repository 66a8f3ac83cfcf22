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

// unsubscribeSubject recognises a request to stop by its subject: a word
// of unsubscribeStrong that is not negated (stopNegated), or a word of
// unsubscribeWeak that is the whole subject its writer typed. "How do I
// unsubscribe?" asks to stop; "Re: Please do NOT unsubscribe me" and
// 「配信停止しないでください」 do not.
func unsubscribeSubject(subject string) bool {
	s := foldSubject(subject)
	if s == "" {
		return false
	}
	// Typographic apostrophes (don’t) are not folded by NFKC.
	s = strings.NewReplacer("’", "'", "‘", "'", "ʼ", "'", "＇", "'").Replace(s)
	for _, w := range unsubscribeStrong {
		for i := 0; ; {
			j := strings.Index(s[i:], w)
			if j < 0 {
				break
			}
			j += i
			if !stopNegated(s, j, j+len(w)) {
				return true
			}
			i = j + len(w)
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

// clauseEnds split a subject into clauses: a negation counts only within
// the clause of the request it negates ("Don't want these anymore.
// Unsubscribe" asks to stop).
const clauseEnds = ".,;!?:|/()[]<>\"{}。、，！？：；【】「」『』（）・"

// negBefore are English words that negate a request to stop that follows
// them within negWindow words in its clause ("do not unsubscribe me",
// "never asked to unsubscribe", "please don't remove me", "not sure I want
// to opt out", "undo my unsubscribe"). "can't" and "cannot" are not among
// them: "Can't unsubscribe" is a person who tried to stop and failed.
var negBefore = map[string]bool{
	"not": true, "never": true, "don't": true, "dont": true, "doesn't": true, "didn't": true,
	"won't": true, "wouldn't": true, "shouldn't": true, "undo": true, "cancel": true, "reverse": true,
}

// negBeforeExcept are the words that make a following "not" a failure,
// not a negation ("can not unsubscribe", "could not opt out").
var negBeforeExcept = map[string]bool{"can": true, "could": true, "unable": true}

// negWindow is how many words may stand between a negation and the request
// it negates ("i do not want to unsubscribe": two).
const negWindow = 3

// negClause are phrases that make a request to stop anywhere in its
// clause something else: a mistake to be undone ("unsubscribed by
// mistake"), or "no need to".
var negClause = []string{"by mistake", "accidentally", "mistakenly", "in error", "no need to"}

// negAfter are Japanese endings that negate the request to stop they
// follow (Japanese puts the verb and its negation last): 配信停止しないで
// (ください), 配信停止しません, 配信停止は不要, 配信停止は希望しません,
// 配信停止の取り消し. 「できません」 is not among them: 「配信停止できません」
// is a failed attempt to stop.
var negAfter = []string{
	"しないで", "しません", "しない", "しなくて", "せずに", "せず", "はしない", "は不要", "不要", "いらない", "要らない",
	"は結構です", "希望しません", "は希望しない", "望みません", "ではありません", "ではない", "じゃない",
	"の取り消", "の取消", "取り消", "取消", "を撤回", "撤回", "をキャンセル", "キャンセル",
}

// negAfterWindow is how far after a Japanese request its negation may
// start, in bytes (a particle or two: 「配信停止は」「配信停止を」).
const negAfterWindow = 9

// stopNegated reports whether the request to stop at s[start:end] is
// negated within its clause (negBefore, negClause, negAfter).
func stopNegated(s string, start, end int) bool {
	from := strings.LastIndexAny(s[:start], clauseEnds) + 1
	to := len(s)
	if i := strings.IndexAny(s[end:], clauseEnds); i >= 0 {
		to = end + i
	}
	// " - " and " – " end a clause too ("don't want these - unsubscribe").
	for _, d := range []string{" - ", " – ", " — "} {
		if i := strings.LastIndex(s[from:start], d); i >= 0 {
			from += i + len(d)
		}
		if i := strings.Index(s[end:to], d); i >= 0 {
			to = end + i
		}
	}
	clause := s[from:to]
	for _, p := range negClause {
		if strings.Contains(clause, p) {
			return true
		}
	}
	words := strings.Fields(s[from:start])
	for k := len(words) - 1; k >= 0 && k >= len(words)-1-negWindow; k-- {
		w := strings.Trim(words[k], "\"'*_")
		if w == "never" && k+1 < len(words) && strings.HasPrefix(words[k+1], "mind") {
			continue // "never mind, …": not a negation
		}
		if negBefore[w] && !(w == "not" && k > 0 && negBeforeExcept[words[k-1]]) {
			return true
		}
	}
	after := s[end:to]
	for _, n := range negAfter {
		if i := strings.Index(after, n); i >= 0 && i <= negAfterWindow {
			return true
		}
	}
	return false
}
