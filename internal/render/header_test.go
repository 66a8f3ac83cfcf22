package render

import (
	"mime"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// encodedWordRE finds RFC 2047 encoded-words.
var encodedWordRE = regexp.MustCompile(`=\?[^?\s]+\?[BbQq]\?[^?\s]*\?=`)

// checkHeaderValue checks the shape of an encoded header (name: value):
// lines of at most 78 octets (76 when they hold an encoded-word), words
// of at most 75, and that Go's decoder
// (RFC 2047 §6.2) gives back want. It returns the encoded-words.
func checkHeaderValue(t *testing.T, name string, b []byte, want string) []string {
	t.Helper()
	for i, l := range strings.Split(string(b), "\r\n") {
		if len(l) > maxLineLen || strings.Contains(l, "=?") && len(l) > maxWordLineLen {
			t.Errorf("%s: line %d of %d octets: %q", want, i, len(l), l)
		}
	}
	words := encodedWordRE.FindAllString(string(b), -1)
	for _, w := range words {
		if len(w) > maxWordLen {
			t.Errorf("%s: word of %d characters: %s", want, len(w), w)
		}
		if d, err := wordDecoder.Decode(w); err != nil || !utf8.ValidString(d) {
			t.Errorf("%s: word %s decodes to %q, %v", want, w, d, err)
		}
	}
	v := strings.TrimLeft(strings.ReplaceAll(strings.TrimPrefix(string(b), name+":"), "\r\n", ""), " ")
	if name == "Subject" {
		if got, err := wordDecoder.DecodeHeader(v); err != nil || got != want {
			t.Errorf("Subject %q decodes to %q (%v)", b, got, err)
		}
	} else if a, err := mail.ParseAddress(v); err != nil || a.Name != want {
		t.Errorf("%s %q parses to %+v (%v), want name %q", name, b, a, err, want)
	}
	return words
}

// A display name that fits one encoded-word is one word: readers that
// show a space between adjacent words of a display name (Python's
// email.policy.default) then show the name as written. 「株式会社サンプル技研
// 人事部」 was two words split inside サンプル. A subject is one word when it
// fits one word on its first line.
func TestHeaderValueThatFitsIsOneWord(t *testing.T) {
	t.Parallel()
	for _, v := range []string{
		"株式会社サンプル技研 人事部",
		"山田 太郎",
		"山田様 サンプル技研",
		"Ann-Charlotte Müller",
		"髙橋 﨑子 🎉",
		strings.Repeat("あ", 13), // 39 octets: 52 in base64, the most a subject's first line holds
	} {
		for _, name := range []string{"From", "Subject"} {
			var b []byte
			if name == "From" {
				b = appendAddress([]byte("From: "), len("From: "), v, "alumni@example.co.jp")
			} else {
				b = appendHeaderText([]byte("Subject: "), len("Subject: "), v)
			}
			want := 1
			if name == "Subject" && len("Subject: ")+wordOverhead+min(bLen(len(v)), qLen(v)) > maxWordLineLen {
				want = 2 // too long for the first line
			}
			if words := checkHeaderValue(t, name, b, v); len(words) != want {
				t.Errorf("%s %q: %d encoded-words, want %d: %q", name, v, len(words), want, b)
			}
		}
	}
	// 15 kana fill one word (75 characters): a display name keeps it whole
	// on a line of its own; a subject starts on its first line.
	v := strings.Repeat("あ", 15)
	b := appendAddress([]byte("Reply-To: "), len("Reply-To: "), v, "a@example.jp")
	if words := checkHeaderValue(t, "Reply-To", b, v); len(words) != 1 || !strings.HasPrefix(string(b), "Reply-To:\r\n =?UTF-8?B?") {
		t.Errorf("Reply-To %q: %q", v, b)
	}
	b = appendHeaderText([]byte("Subject: "), len("Subject: "), v)
	if words := checkHeaderValue(t, "Subject", b, v); len(words) != 2 || !strings.HasPrefix(string(b), "Subject: =?UTF-8?B?") {
		t.Errorf("Subject %q: %q", v, b)
	}
	// Mostly ASCII text is shorter in Q, Japanese in B (RFC 2047 §4).
	if b := appendHeaderText(nil, 9, "Ann-Charlotte Müller"); string(b) != "=?UTF-8?Q?Ann-Charlotte_M=C3=BCller?=" {
		t.Errorf("Ann-Charlotte Müller: %s", b)
	}
	if b := appendHeaderText(nil, 9, "山田 太郎"); string(b) != "=?UTF-8?B?5bGx55SwIOWkqumDjg==?=" {
		t.Errorf("山田 太郎: %s", b)
	}
}

// A value too long for one word splits at a space of the text, else
// where words meet (a change of script, punctuation), never inside a
// character.
func TestHeaderValueSplitsBetweenWords(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		v     string
		parts []string // the text of each encoded-word
	}{
		{"山田様 年末アルムナイ交流会のご案内", []string{"山田様 ", "年末アルムナイ交流会のご案内"}},
		{"株式会社サンプル技研ホールディングス 人事本部 アルムナイ・リレーション推進室",
			[]string{"株式会社サンプル技研", "ホールディングス 人事本部 ", "アルムナイ・リレーション推進室"}},
		{"サンプル技研アルムナイネットワーク開設のご案内とお願い",
			[]string{"サンプル技研", "アルムナイネットワーク", "開設のご案内とお願い"}},
		{"年末アルムナイ交流会、開催のお知らせ。ご参加をお待ちしております",
			[]string{"年末アルムナイ交流会、", "開催のお知らせ。", "ご参加をお待ちしております"}},
		{"お申し込みの締め切りは十二月十八日金曜日の正午までとなっております",
			[]string{"お申し込みの締め切りは", "十二月十八日金曜日の", "正午までとなっております"}},
		{"Kizuna alumni: 年末アルムナイ交流会のご案内です",
			[]string{"Kizuna alumni: ", "年末アルムナイ", "交流会のご案内です"}},
	} {
		for _, name := range []string{"To", "Subject"} {
			var b []byte
			if name == "To" {
				b = appendAddress([]byte("To: "), len("To: "), c.v, "taro.yamada@example.jp")
			} else {
				b = appendHeaderText([]byte("Subject: "), len("Subject: "), c.v)
			}
			words := checkHeaderValue(t, name, b, c.v)
			var got []string
			for _, w := range words {
				d, _ := wordDecoder.Decode(w)
				got = append(got, d)
			}
			if strings.Join(got, "|") != strings.Join(c.parts, "|") {
				t.Errorf("%s %q split as %q, want %q\n%s", name, c.v, got, c.parts, b)
			}
		}
	}
}

// Header lines stay within 78 octets (76 with encoded-words), whatever
// comes before the value.
func TestHeaderFolding(t *testing.T) {
	t.Parallel()
	b := appendHeaderText([]byte("Subject: "), len("Subject: "), strings.Repeat("a long ascii subject ", 8)+"end")
	if strings.Contains(string(b), "=?") || strings.Count(string(b), "\r\n") < 2 {
		t.Errorf("long ASCII subject not folded at its spaces: %q", b)
	}
	// A word that fits one word but not after "Reply-To: " starts a new line,
	// and the line does not end in a space.
	v := "株式会社サンプル技研 人事部!" // 41 octets: 68 characters encoded
	b = appendAddress([]byte("Reply-To: "), len("Reply-To: "), v, "alumni@example.co.jp")
	if !strings.HasPrefix(string(b), "Reply-To:\r\n =?UTF-8?B?") {
		t.Errorf("not folded before the word: %q", b)
	}
	checkHeaderValue(t, "Reply-To", b, v)
}

// FuzzEncodedWords: whatever the text, the column it starts at and the
// kind of header, Go's
// RFC 2047 decoder gives the text back, every word decodes to whole UTF-8
// characters and no line exceeds 76 octets.
func FuzzEncodedWords(f *testing.F) {
	for _, s := range []string{"株式会社サンプル技研 人事部", "山田様 年末アルムナイ交流会のご案内", "Café René", "=?UTF-8?B?5bGx?=", strings.Repeat("髙🎉 ", 40), "a\u3000b"} {
		f.Add(s, 9, false)
		f.Add(s, 4, true)
	}
	dec := new(mime.WordDecoder)
	f.Fuzz(func(t *testing.T, s string, col int, phrase bool) {
		s = cleanHeader(s)
		col = 1 + (col%40+40)%40
		prefix := strings.Repeat("X", col-1) + ":"
		b, _ := appendEncodedWords([]byte(prefix), col, s, phrase)
		for _, l := range strings.Split(string(b), "\r\n") {
			if len(l) > maxWordLineLen {
				t.Fatalf("line of %d octets: %q", len(l), l)
			}
		}
		for _, w := range encodedWordRE.FindAllString(string(b), -1) {
			d, err := dec.Decode(w)
			if err != nil || !utf8.ValidString(d) || len(w) > maxWordLen {
				t.Fatalf("word %q: %q %v", w, d, err)
			}
		}
		v := strings.ReplaceAll(strings.TrimPrefix(string(b), prefix), "\r\n", "")
		got, err := dec.DecodeHeader(strings.TrimLeft(v, " "))
		if err != nil || got != s {
			t.Fatalf("%q encodes to %q, decodes to %q (%v)", s, b, got, err)
		}
	})
}

// A legacy docomo address is rendered with its local part quoted in To
// (RFC 5322 §3.4.1) and parses back to the stored address; the message's
// envelope recipient stays as stored (the mailer quotes it). The quoted
// form is accepted as input too (campaign send-test --to).
func TestLegacyAddressInTo(t *testing.T) {
	t.Parallel()
	p := mustPrepare(t, newsletter(), testOptions())
	for _, in := range []string{"taro..yamada@docomo.ne.jp", `"taro..yamada"@docomo.ne.jp`} {
		r := yamada()
		r.SendTo = in
		m := mustRender(t, p, r)
		if m.To != "taro..yamada@docomo.ne.jp" {
			t.Errorf("%s: envelope recipient %q", in, m.To)
		}
		to := rawHeaders(m.Data)["to"]
		if !strings.HasSuffix(to, ` <"taro..yamada"@docomo.ne.jp>`) {
			t.Errorf("%s: To:%s", in, to)
		}
		a, err := mail.ParseAddress(strings.ReplaceAll(to, "\r\n", ""))
		if err != nil || a.Address != "taro..yamada@docomo.ne.jp" || a.Name != "山田 太郎" {
			t.Errorf("%s: To parses to %+v, %v", in, a, err)
		}
	}
	// A dot-atom stays unquoted.
	if to := rawHeaders(mustRender(t, p, yamada()).Data)["to"]; !strings.HasSuffix(to, " <taro.yamada@example.jp>") {
		t.Errorf("To:%s", to)
	}
	for _, bad := range []string{"taro..yamada@docomo.ne.jp>", "山田@docomo.ne.jp", "a b <c@d.jp>", `"a\`} {
		r := yamada()
		r.SendTo = bad
		if _, err := p.Render(r); err == nil {
			t.Errorf("Render accepted %q", bad)
		}
	}
}

// breakRank's shortcut for kana and kanji gives every rune it classes the
// script the Unicode tables give, and classes only runes that are neither
// spaces nor punctuation (so the rules before the scripts cannot apply).
func TestKanaOrKanjiAgreesWithScript(t *testing.T) {
	t.Parallel()
	classed := 0
	for r := rune(0); r <= unicode.MaxRune; r++ {
		k := kanaOrKanji(r)
		if k == scriptOther {
			continue
		}
		classed++
		if s := script(r); s != k {
			t.Errorf("%U: kanaOrKanji %d, script %d", r, k, s)
		}
		if unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.In(r, unicode.Ps, unicode.Pi) {
			t.Errorf("%U is a space or punctuation", r)
		}
	}
	if classed < 20000 {
		t.Errorf("only %d runes classed", classed)
	}
}
