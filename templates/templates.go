// Package templates holds Kizuna's Hermes themes and the user-facing strings
// of messages and pages, in Japanese and English. The theme files are
// embedded, so the binary carries them.
//
// A Theme is built per (theme name, locale, options): Kizuna first fills the
// theme file's [[ ]] actions with the locale's strings and the render
// package's placeholder tokens, and Hermes then executes the result as its
// html/template. Everything recipient-specific reaches the output through the
// placeholders, which the render package replaces per recipient.
package templates

import (
	"bytes"
	"embed"
	"fmt"
	"html"
	"text/template"
)

//go:embed mail/*
var mailFS embed.FS

// Themes lists the theme names a campaign may choose.
var Themes = []string{"default", "flat"}

// Locales lists the message languages.
var Locales = []string{"ja", "en"}

// Strings are the fixed texts of a message in one language.
type Strings struct {
	Lang string
	// DefaultSignature closes the body when the campaign gives none. It
	// carries its own punctuation: Japanese has no ASCII commas.
	DefaultSignature string
	// GroupGreeting greets a recipient whose name is unknown.
	GroupGreeting string
	// Honorific follows the full name in Japanese greetings (様).
	Honorific string
	// GreetingPrefix precedes the name in English greetings ("Dear ").
	GreetingPrefix string
	GreetingSuffix string

	SenderLabel, AddressLabel, ContactLabel string
	// RefusalNotice says that the reader may refuse further mail
	// (特定電子メール法 §4, 受信拒否の通知ができる旨).
	RefusalNotice    string
	UnsubscribeLabel string
	PreferencesLabel string
	PrivacyLabel     string

	TroubleBefore, TroubleAfter string // around a button's text: "if the button does not work…"

	RSVPPrompt, RSVPYes, RSVPNo, RSVPMaybe string
	// RSVPWhen labels the event's time above the RSVP buttons, and
	// RangeSep joins its start and end ("19:00 〜 21:00").
	RSVPWhen, RangeSep string
	TestPrefix         string // subject prefix of send-test messages

	// EventLabel, WhenLabel, WhereLabel, MapLabel and PageLabel head the
	// event's details in notices (its title, time, place, the map link of
	// the plain-text part, and web page).
	EventLabel, WhenLabel, WhereLabel, MapLabel, PageLabel string
	// NoticeOutro closes every notice: questions go to the reply address.
	NoticeOutro string
}

var stringsByLocale = map[string]Strings{
	"ja": {
		Lang:             "ja",
		DefaultSignature: "今後ともよろしくお願いいたします。",
		GroupGreeting:    "アルムナイの皆様",
		Honorific:        " 様",
		SenderLabel:      "送信者: ",
		AddressLabel:     "所在地: ",
		ContactLabel:     "お問い合わせ: ",
		RefusalNotice:    "今後このようなメールの受信を希望されない場合は、以下のリンクから配信停止できます。",
		UnsubscribeLabel: "配信停止",
		PreferencesLabel: "配信設定の変更",
		PrivacyLabel:     "個人情報の取り扱い",
		TroubleBefore:    "「",
		TroubleAfter:     "」ボタンが動作しない場合は、次のURLをブラウザに貼り付けてください。",
		RSVPPrompt:       "ご出欠をお知らせください。",
		RSVPYes:          "出席する",
		RSVPNo:           "欠席する",
		RSVPMaybe:        "未定",
		RSVPWhen:         "日時: ",
		RangeSep:         " 〜 ",
		TestPrefix:       "[TEST] ",
		EventLabel:       "イベント",
		WhenLabel:        "日時",
		WhereLabel:       "会場",
		MapLabel:         "地図",
		PageLabel:        "詳細",
		NoticeOutro:      "ご不明な点がございましたら、本メールにご返信ください。",
	},
	"en": {
		Lang:             "en",
		DefaultSignature: "Kind regards,",
		GroupGreeting:    "Dear alumni,",
		GreetingPrefix:   "Dear ",
		GreetingSuffix:   ",",
		SenderLabel:      "Sender: ",
		AddressLabel:     "Address: ",
		ContactLabel:     "Contact: ",
		RefusalNotice:    "If you no longer wish to receive these emails, you can unsubscribe using the link below.",
		UnsubscribeLabel: "Unsubscribe",
		PreferencesLabel: "Manage preferences",
		PrivacyLabel:     "Privacy notice",
		TroubleBefore:    "If the “",
		TroubleAfter:     "” button does not work, copy and paste the URL below into your web browser.",
		RSVPPrompt:       "Will you join us?",
		RSVPYes:          "Yes",
		RSVPNo:           "No",
		RSVPMaybe:        "Maybe",
		RSVPWhen:         "When: ",
		RangeSep:         " to ",
		TestPrefix:       "[TEST] ",
		EventLabel:       "Event",
		WhenLabel:        "When",
		WhereLabel:       "Where",
		MapLabel:         "Map",
		PageLabel:        "Details",
		NoticeOutro:      "If you have any questions, just reply to this email.",
	},
}

// StringsFor returns the strings of locale ("ja" or "en").
func StringsFor(locale string) (Strings, error) {
	s, ok := stringsByLocale[locale]
	if !ok {
		return Strings{}, fmt.Errorf("unknown locale %q (want ja or en)", locale)
	}
	return s, nil
}

// Placeholders are the tokens the theme writes where the render package will
// put values: per recipient (Greeting, Subject, Unsubscribe, Open, RSVP, and
// the event's start and end in the recipient's time zone) or
// per campaign version (the company identity). They must be alphanumeric so
// that no HTML, URL or CSS escaping alters them.
type Placeholders struct {
	Greeting, Subject                           string
	CompanyName, CompanyAddress, CompanyContact string
	CompanyURL, PrivacyURL, Logo                string
	Unsubscribe, Open, RSVP                     string
	EventStart, EventEnd                        string
	// EventTitle, EventLocation, EventMap (a map search for the location)
	// and EventURL fill the event's details in notices (Options.Details).
	EventTitle, EventLocation, EventMap, EventURL string
}

// SignedGreeting, set as the Hermes body's Greeting (which these themes do
// not print), tells the theme that the signature already names the company,
// so that the company name is not repeated under it.
const SignedGreeting = "signed"

// Options choose the optional parts of a theme.
type Options struct {
	Logo    bool // the company has a logo URL
	Privacy bool // the company has a privacy URL
	Open    bool // add the open pixel
	RSVP    bool // add RSVP buttons (event campaigns)
	// RSVPPrompt, when set, replaces the locale's RSVPPrompt above the
	// RSVP buttons (a notice's "change your answer").
	RSVPPrompt string
	// Details adds the event's details (title, time, place with a map
	// link, web page) after the body, as notices show them; the time is
	// then not repeated above the RSVP buttons.
	Details bool
	// Location and URL say whether the event has a place and a web page
	// (with Details).
	Location, URL bool
}

// Theme is a hermes.Theme for one theme name, locale and set of options.
type Theme struct {
	name       string
	html, text string
}

// Name returns the theme's name.
func (t *Theme) Name() string { return t.name }

// HTMLTemplate returns the Hermes HTML template.
func (t *Theme) HTMLTemplate() string { return t.html }

// PlainTextTemplate returns the Hermes template whose output Hermes turns
// into the plain-text part.
func (t *Theme) PlainTextTemplate() string { return t.text }

type palette struct {
	Page, Masthead, Footer, FooterLink, Button, Radius, ButtonWidth string
	// RSVPMaybe and RSVPNo are the backgrounds of the "maybe" and "no"
	// RSVP buttons (the "yes" button has Button's).
	RSVPMaybe, RSVPNo string
}

// Every button background here carries white text at a contrast of at
// least 4.5:1 (WCAG 2.1 AA, 1.4.3); TestButtonContrast checks it.
var palettes = map[string]palette{
	"default": {Page: "#F2F4F6", Masthead: "#2F3133", Footer: "#6B6E76", FooterLink: "#3869D4", Button: "#3869D4", Radius: "3px", ButtonWidth: "width: 240px;",
		RSVPMaybe: "#6B7280", RSVPNo: "#4B5563"},
	"flat": {Page: "#2C3E50", Masthead: "#FFFFFF", Footer: "#EAEAEA", FooterLink: "#FFFFFF", Button: "#00776F", Radius: "0", ButtonWidth: "width: 100%;",
		RSVPMaybe: "#6B7280", RSVPNo: "#4B5563"},
}

// ButtonColors returns the (text, background) color pairs of the buttons
// the theme name draws itself: the default button and the three RSVP
// buttons. Campaign buttons with their own color get ButtonTextColor's.
func ButtonColors(name string) ([][2]string, error) {
	pal, ok := palettes[name]
	if !ok {
		return nil, fmt.Errorf("unknown theme %q (want default or flat)", name)
	}
	return [][2]string{{ButtonTextLight, pal.Button}, {ButtonTextLight, pal.RSVPMaybe}, {ButtonTextLight, pal.RSVPNo}}, nil
}

// Font stacks. Japanese messages put Japanese fonts first, those of macOS
// and iOS (Hiragino), Android and Linux (Noto Sans JP / Noto Sans CJK JP)
// and Windows (Yu Gothic, Meiryo), so that kana and kanji never fall back
// to a Chinese glyph variant. English messages put the platforms' Latin UI
// fonts first, so Latin letters are not drawn with a Japanese font's
// Latin glyphs, and then the same Japanese fonts for names and places. The
// names are single-quoted: the CSS inliner copies them into style="…"
// attributes.
const (
	fontsJA = `'Hiragino Sans','Hiragino Kaku Gothic ProN','Noto Sans JP','Noto Sans CJK JP','Yu Gothic',YuGothic,Meiryo,sans-serif`
	fontsEN = `-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,'Helvetica Neue',Helvetica,Arial,'Hiragino Sans','Noto Sans JP','Noto Sans CJK JP',Meiryo,sans-serif`
)

// NewTheme builds the theme name ("default" or "flat") for locale.
func NewTheme(name, locale string, p Placeholders, o Options) (*Theme, error) {
	pal, ok := palettes[name]
	if !ok {
		return nil, fmt.Errorf("unknown theme %q (want default or flat)", name)
	}
	s, err := StringsFor(locale)
	if err != nil {
		return nil, err
	}
	if o.RSVPPrompt != "" {
		s.RSVPPrompt = o.RSVPPrompt
	}
	fonts := fontsEN
	if locale == "ja" {
		fonts = fontsJA
	}
	data := struct {
		Lang, Fonts               string
		S                         Strings
		P                         Placeholders
		C                         palette
		Logo, Privacy, Open, RSVP bool
		Details, Location, URL    bool
	}{locale, fonts, escapeStrings(s), p, pal, o.Logo, o.Privacy, o.Open, o.RSVP, o.Details, o.Location, o.URL}
	t := &Theme{name: name}
	for file, dst := range map[string]*string{"mail/message.html": &t.html, "mail/message.txt": &t.text} {
		src, err := mailFS.ReadFile(file)
		if err != nil {
			return nil, err
		}
		tpl, err := template.New(file).Delims("[[", "]]").Option("missingkey=error").Parse(string(src))
		if err != nil {
			return nil, fmt.Errorf("theme file %s: %w", file, err)
		}
		var b bytes.Buffer
		if err := tpl.Execute(&b, data); err != nil {
			return nil, fmt.Errorf("theme file %s: %w", file, err)
		}
		*dst = b.String()
	}
	return t, nil
}

// escapeStrings HTML-escapes every string: the theme's first pass is a
// text/template writing HTML source.
func escapeStrings(s Strings) Strings {
	for _, f := range []*string{&s.SenderLabel, &s.AddressLabel, &s.ContactLabel, &s.RefusalNotice,
		&s.UnsubscribeLabel, &s.PreferencesLabel, &s.PrivacyLabel, &s.TroubleBefore, &s.TroubleAfter,
		&s.RSVPPrompt, &s.RSVPYes, &s.RSVPNo, &s.RSVPMaybe, &s.RSVPWhen, &s.RangeSep,
		&s.EventLabel, &s.WhenLabel, &s.WhereLabel, &s.MapLabel, &s.PageLabel} {
		*f = html.EscapeString(*f)
	}
	return s
}
