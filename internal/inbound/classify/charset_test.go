package classify

import (
	"encoding/base64"
	"testing"

	"golang.org/x/text/encoding/japanese"
)

// decodeText reads Japanese under right, wrong and missing labels.
func TestDecodeTextLabels(t *testing.T) {
	const text = "髙橋です。①の件、ｶﾀｶﾅではなく承知しました。"
	const plain = "山田です。交流会に参加します。"
	sjis, _ := japanese.ShiftJIS.NewEncoder().String(text)
	euc, _ := japanese.EUCJP.NewEncoder().String(plain)
	jis, _ := japanese.ISO2022JP.NewEncoder().String(plain)
	cases := []struct {
		name, label, in, want string
	}{
		{"CP932 labelled shift_jis", "Shift_JIS", sjis, text},
		{"CP932 labelled x-sjis", "x-sjis", sjis, text},
		{"CP932 labelled iso-2022-jp", "iso-2022-jp", sjis, text},
		{"CP932 unlabelled", "", sjis, text},
		{"CP932 labelled us-ascii", "us-ascii", sjis, text},
		{"EUC-JP labelled shift_jis", "shift_jis", euc, plain},
		{"EUC-JP labelled iso-8859-1", "iso-8859-1", euc, plain},
		{"EUC-JP unlabelled", "", euc, plain},
		{"ISO-2022-JP labelled utf-8", "utf-8", jis, plain},
		{"ISO-2022-JP labelled quoted with a language", `"ISO-2022-JP*ja"`, jis, plain},
		{"UTF-8 labelled shift_jis", "shift_jis", plain, plain},
		{"UTF-8 labelled iso-8859-1", "iso-8859-1", plain, plain},
		{"UTF-8 with a BOM", "utf-8", "\ufeff" + plain, plain},
		{"Latin-1 stays Latin-1", "iso-8859-1", "caf\xe9", "café"},
		{"an unknown label on UTF-8", "x-unknown-charset", plain, plain},
	}
	for _, c := range cases {
		if got := decodeText([]byte(c.in), c.label); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

// decodeHeader joins encoded words split inside a character, reads raw
// 8-bit fields and tolerates broken words.
func TestDecodeHeader(t *testing.T) {
	b := []byte("【配信停止】")
	sjis, _ := japanese.ShiftJIS.NewEncoder().String("配信停止")
	w := func(label string, p []byte) string {
		return "=?" + label + "?B?" + base64.StdEncoding.EncodeToString(p) + "?="
	}
	cases := []struct{ name, in, want string }{
		{"split UTF-8", w("UTF-8", b[:4]) + " " + w("utf-8", b[4:]), "【配信停止】"},
		{"no space between words and text", w("UTF-8", b) + "です", "【配信停止】です"},
		{"missing padding", "=?UTF-8?B?" + base64.RawStdEncoding.EncodeToString([]byte("退会")) + "?=", "退会"},
		{"lower-case q", "=?utf-8?q?Re:_=E9=80=80=E4=BC=9A?=", "Re: 退会"},
		{"raw 8-bit Shift_JIS", "Re: " + sjis, "Re: 配信停止"},
		{"Shift_JIS word labelled iso-2022-jp", w("ISO-2022-JP", []byte(sjis)), "配信停止"},
		{"text around words keeps its space", "Re: " + w("UTF-8", []byte("退会")) + " please", "Re: 退会 please"},
		{"folded", "Re:\r\n " + w("UTF-8", []byte("退会")), "Re: 退会"},
		{"a bad word stays readable", "=?UTF-8?B?!!!?= ok", "ok"},
	}
	for _, c := range cases {
		if got := decodeHeader(c.in); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

// Subjects that name a request to stop or an automatic reply, and the
// replies that only quote such words from our own subject.
func TestSubjectRules(t *testing.T) {
	unsub := map[string]bool{
		"配信停止": true,
		"Re: アルムナイ通信【配信停止希望】": true,
		"退会":                    true,
		"Unsubscribe":           true,
		"ＳＴＯＰ":                  true,
		"Re: 退会者交流会のご案内":        false,
		"Re: アルムナイ通信 12月号":      false,
		"Re: Stop by our booth": false,
		"Re: 停止":                false,
	}
	for s, want := range unsub {
		if got := unsubscribeSubject(s); got != want {
			t.Errorf("unsubscribeSubject(%q) = %v, want %v", s, got, want)
		}
	}
	auto := map[string]bool{
		"自動応答: アルムナイ通信":                   true,
		"Automatic reply: Alumni news":    true,
		"AUTO: John is out of the office": true,
		"Out of Office: I like turtles":   true,
		"不在通知":                            true,
		"Re: blah (Automatic Response)":   true,
		"Re: 夏季休暇のお知らせ":                   false,
		"Re: Out of office hours event":   false,
		"RE: 不在者投票について":                   false,
	}
	for s, want := range auto {
		if got := autoReplySubject(s); got != want {
			t.Errorf("autoReplySubject(%q) = %v, want %v", s, got, want)
		}
	}
}
