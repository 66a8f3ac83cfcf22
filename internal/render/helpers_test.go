package render

import (
	"mime"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/token"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef-render-test")

var jst = time.FixedZone("JST", 9*3600)

// fixedNow is the clock of every test render.
func fixedNow() time.Time { return time.Date(2026, 12, 1, 10, 10, 0, 0, jst) }

func company() campaigns.Company {
	return campaigns.Company{
		Name:       "Example株式会社",
		Address:    "東京都渋谷区神南1-2-3",
		Contact:    "alumni@example.co.jp / 03-1234-5678",
		URL:        "https://example.co.jp",
		PrivacyURL: "https://example.co.jp/privacy",
	}
}

// newsletter is a realistic quarterly newsletter in both locales.
func newsletter() *campaigns.Campaign {
	return &campaigns.Campaign{
		ID:       "2026-q4-newsletter",
		Kind:     campaigns.KindNewsletter,
		Company:  company(),
		From:     "Example株式会社 人事部 <alumni@example.co.jp>",
		ReplyTo:  "alumni@example.co.jp",
		Subject:  map[string]string{"ja": "{{.FamilyName}}様 Exampleアルムナイ通信 2026年冬号", "en": "Example alumni news, winter 2026 — hello {{.GivenName}}"},
		Tracking: campaigns.Tracking{Opens: true, Clicks: true},
		Template: campaigns.Template{Theme: "default", Body: map[string]campaigns.Body{
			"ja": {
				Intros: []string{
					"ご無沙汰しております。{{.Department}}でご一緒した皆様はお元気でしょうか。",
					"退職されてから{{.YearsSinceLeft}}年、{{.FamilyName}}様のご活躍を社内でもよく耳にします。",
				},
				Dictionary: []campaigns.Entry{{Key: "会社の近況", Value: "新オフィスに移転しました"}, {Key: "社員数", Value: "250名"}, {Key: "在籍期間", Value: "{{.JoinedOn}}〜{{.LeftOn}}"}},
				Table:      &campaigns.Table{Columns: []string{"職種", "勤務地"}, Rows: [][]string{{"バックエンドエンジニア", "東京"}, {"プロダクトマネージャー", "大阪"}, {"人事", "リモート"}}},
				Actions:    []campaigns.Action{{Instructions: "募集中の職種はこちらをご覧ください。", ButtonText: "求人を見る", ButtonLink: "https://example.co.jp/careers?src=alumni&e={{.Email}}"}},
				Outros:     []string{"ご質問はこのメールにご返信ください。", "今後ともどうぞよろしくお願いいたします。"},
			},
			"en": {
				Intros:     []string{"It has been a while. We hope everyone from {{.Department}} is doing well.", "{{.YearsSinceLeft}} years after you left, we still hear about your work."},
				Dictionary: []campaigns.Entry{{Key: "News", Value: "We moved to a new office"}, {Key: "Headcount", Value: "250"}},
				Actions:    []campaigns.Action{{Instructions: "See our open positions.", ButtonText: "View jobs", ButtonLink: "https://example.co.jp/careers?src=alumni"}},
				Outros:     []string{"Just reply to this email with any question."},
				Signature:  "Best wishes,",
			},
		}},
	}
}

// event is an event invitation with a markdown body.
func event() *campaigns.Campaign {
	return &campaigns.Campaign{
		ID:       "2026-12-year-end",
		Kind:     campaigns.KindEvent,
		Company:  company(),
		From:     "Example株式会社 人事部 <alumni@example.co.jp>",
		ReplyTo:  "alumni@example.co.jp",
		Subject:  map[string]string{"ja": "{{.FamilyName}}様 年末アルムナイ交流会のご案内", "en": "Join our year-end alumni evening, {{.GivenName}}"},
		Tracking: campaigns.Tracking{Opens: true, Clicks: true},
		Template: campaigns.Template{Theme: "flat", Body: map[string]campaigns.Body{
			"ja": {Markdown: "今年も大変お世話になりました。\n\n**{{.Event.Title}}** を {{.Event.Start}} から開催します。\n\n会場: {{.Event.Location}}\n\n詳細は[イベントページ]({{.Event.URL}})と[アクセス](https://example.co.jp/access?from=mail&x=1)をご覧ください。"},
			"en": {Markdown: "Thank you for this year.\n\nWe hold **{{.Event.Title}}** from {{.Event.Start}} to {{.Event.End}}.\n\nSee the [event page]({{.Event.URL}})."},
		}},
		Event: &campaigns.Event{
			Title:    "年末アルムナイ交流会",
			StartsAt: time.Date(2026, 12, 18, 19, 0, 0, 0, jst),
			EndsAt:   time.Date(2026, 12, 18, 21, 0, 0, 0, jst),
			Location: "東京都渋谷区神南1-2-3 Example本社 10F; ラウンジ, 受付",
			URL:      "https://example.co.jp/events/2026",
			Sequence: 2,
		},
	}
}

func yamada() Recipient {
	return Recipient{
		DeliveryID: 4242, Email: "taro.yamada@example.jp", FamilyName: "山田", GivenName: "太郎",
		Department: "開発部", JoinedOn: time.Date(2012, 4, 1, 0, 0, 0, 0, time.UTC), LeftOn: time.Date(2019, 3, 31, 0, 0, 0, 0, time.UTC),
		Locale: "ja", TimeZone: "Asia/Tokyo",
	}
}

func smith() Recipient {
	return Recipient{
		DeliveryID: 4243, Email: "jane.smith@example.com", FamilyName: "Smith", GivenName: "Jane",
		Department: "Sales", LeftOn: time.Date(2021, 9, 30, 0, 0, 0, 0, time.UTC), Locale: "en", TimeZone: "Europe/London",
	}
}

func testOptions() Options {
	return Options{BaseURL: "https://alumni.example.co.jp", Signer: token.New(testSecret), RunNumber: 7, Now: fixedNow}
}

func mustPrepare(t testing.TB, c *campaigns.Campaign, o Options) *Prepared {
	t.Helper()
	p, err := Prepare(c, o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustRender(t testing.TB, p *Prepared, r Recipient) *Message {
	t.Helper()
	m, err := p.Render(r)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(m.Data), "KZ"+p.ph.nonce) {
		t.Fatalf("placeholder left in message:\n%s", m.Data)
	}
	// The worker tells the mailer a rendered message needs no line-end
	// check (mailer.Envelope.CRLF): every CR and LF is a CRLF pair.
	crlf := strings.Count(string(m.Data), "\r\n")
	if strings.Count(string(m.Data), "\r") != crlf || strings.Count(string(m.Data), "\n") != crlf {
		t.Fatalf("a rendered message has a bare CR or LF:\n%q", m.Data)
	}
	return m
}

var wordDecoder = new(mime.WordDecoder)
