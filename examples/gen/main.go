// Command gen writes examples/alumni.csv: a fictional alumni roster of a
// small Japanese company, encoded as Excel in Japan exports CSV (CP932,
// Japanese headers, CRLF line ends). It is seeded, so the file is the same
// on every run:
//
//	go run ./examples/gen            # from the repository root
//
// Every person is invented and every address is under a domain reserved for
// examples (RFC 2606 / JPRS): example.jp, example.com, example.org,
// example.net.
package main

import (
	"encoding/csv"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/transform"
)

type name struct{ kanji, kana, romaji string }

var (
	families = []name{
		{"山田", "ヤマダ", "yamada"}, {"佐藤", "サトウ", "sato"}, {"鈴木", "スズキ", "suzuki"},
		{"高橋", "タカハシ", "takahashi"}, {"髙橋", "タカハシ", "takahashi"}, {"田中", "タナカ", "tanaka"},
		{"伊藤", "イトウ", "ito"}, {"渡辺", "ワタナベ", "watanabe"}, {"中村", "ナカムラ", "nakamura"},
		{"小林", "コバヤシ", "kobayashi"}, {"加藤", "カトウ", "kato"}, {"吉田", "ヨシダ", "yoshida"},
		{"山﨑", "ヤマザキ", "yamazaki"}, {"山崎", "ヤマザキ", "yamazaki"}, {"松本", "マツモト", "matsumoto"},
		{"井上", "イノウエ", "inoue"}, {"木村", "キムラ", "kimura"}, {"林", "ハヤシ", "hayashi"},
		{"清水", "シミズ", "shimizu"}, {"森", "モリ", "mori"}, {"池田", "イケダ", "ikeda"},
		{"橋本", "ハシモト", "hashimoto"}, {"石川", "イシカワ", "ishikawa"}, {"岡田", "オカダ", "okada"},
		{"藤田", "フジタ", "fujita"}, {"長谷川", "ハセガワ", "hasegawa"}, {"村上", "ムラカミ", "murakami"},
		{"宮﨑", "ミヤザキ", "miyazaki"}, {"近藤", "コンドウ", "kondo"}, {"坂本", "サカモト", "sakamoto"},
	}
	givens = []name{
		{"太郎", "タロウ", "taro"}, {"花子", "ハナコ", "hanako"}, {"健一", "ケンイチ", "kenichi"},
		{"美咲", "ミサキ", "misaki"}, {"翔太", "ショウタ", "shota"}, {"由美", "ユミ", "yumi"},
		{"大輔", "ダイスケ", "daisuke"}, {"陽子", "ヨウコ", "yoko"}, {"誠", "マコト", "makoto"},
		{"恵", "メグミ", "megumi"}, {"拓也", "タクヤ", "takuya"}, {"彩", "アヤ", "aya"},
		{"直樹", "ナオキ", "naoki"}, {"真由美", "マユミ", "mayumi"}, {"浩二", "コウジ", "koji"},
		{"さくら", "サクラ", "sakura"}, {"亮", "リョウ", "ryo"}, {"知美", "トモミ", "tomomi"},
		{"一郎", "イチロウ", "ichiro"}, {"愛", "アイ", "ai"},
	}
	englishFamilies = []string{"Smith", "Johnson", "Brown", "Taylor", "Wilson", "Martin", "Garcia", "Lee", "Clarke", "Nguyen", "Miller", "O'Brien"}
	englishGivens   = []string{"Emily", "James", "Olivia", "Daniel", "Sophie", "Michael", "Chloe", "David", "Grace", "Lucas", "Hannah", "Ethan"}
	englishZones    = []string{"Asia/Tokyo", "Asia/Tokyo", "Europe/London", "America/New_York", "America/Los_Angeles", "Asia/Singapore", "Australia/Sydney", "Europe/Berlin"}
	japaneseZones   = []string{"Asia/Shanghai", "America/Los_Angeles", "Asia/Bangkok", "Europe/London"}
	departments     = []string{"開発部", "開発部", "営業部", "営業部", "人事部", "総務部", "経理部", "マーケティング部", "カスタマーサクセス部", "品質保証部"}
	domains         = []string{"example.jp", "example.jp", "example.com", "example.org", "example.net"}
	sources         = []string{"退職時アンケート", "アルムナイ登録フォーム", "送別会での申込書", "メールでの返信", "アルムナイ交流会での申込"}
	deptTags        = map[string]string{"開発部": "engineering", "品質保証部": "engineering", "営業部": "sales", "カスタマーサクセス部": "sales", "マーケティング部": "marketing"}
)

var header = []string{"メールアドレス", "姓", "名", "セイ", "メイ", "社員番号", "部署", "入社日", "退職日", "言語", "タイムゾーン", "タグ", "同意", "同意日", "同意取得方法"}

func main() {
	out := flag.String("o", "examples/alumni.csv", "file to write")
	n := flag.Int("n", 300, "number of alumni")
	seed := flag.Uint64("seed", 2026, "random seed")
	flag.Parse()
	if err := write(*out, *n, *seed); err != nil {
		log.Fatal(err)
	}
}

func write(path string, n int, seed uint64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := transform.NewWriter(f, japanese.ShiftJIS.NewEncoder())
	w := csv.NewWriter(enc)
	w.UseCRLF = true
	w.Write(header)
	r := rand.New(rand.NewPCG(seed, seed^0x6b697a756e61))
	used := map[string]bool{}
	for i := range n {
		if err := w.Write(person(r, i, used)); err != nil {
			return fmt.Errorf("row %d: %w", i+1, err)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	return f.Close()
}

func person(r *rand.Rand, i int, used map[string]bool) []string {
	english := r.IntN(100) < 12
	var family, given, familyKana, givenKana, local, locale, zone string
	if english {
		family, given = pick(r, englishFamilies), pick(r, englishGivens)
		local = strings.ToLower(given + "." + strings.ReplaceAll(family, "'", ""))
		locale, zone = "en", pick(r, englishZones)
	} else {
		fam, giv := families[r.IntN(len(families))], givens[r.IntN(len(givens))]
		family, given, familyKana, givenKana = fam.kanji, giv.kanji, fam.kana, giv.kana
		local = giv.romaji + "." + fam.romaji
		locale, zone = "ja", "Asia/Tokyo"
		if r.IntN(100) < 4 {
			zone = pick(r, japaneseZones)
		}
		if r.IntN(100) < 30 { // kana often missing in old HR files
			familyKana, givenKana = "", ""
		}
	}
	domain := pick(r, domains)
	email := local + "@" + domain
	for k := 2; used[email]; k++ {
		email = fmt.Sprintf("%s%d@%s", local, k, domain)
	}
	used[email] = true

	joined := time.Date(1995+r.IntN(26), time.Month(1+3*r.IntN(4)), 1, 0, 0, 0, 0, time.UTC)
	left := joined.AddDate(2+r.IntN(14), r.IntN(12), r.IntN(28))
	if limit := time.Date(2026, 9, 30, 0, 0, 0, 0, time.UTC); left.After(limit) {
		left = limit.AddDate(0, -r.IntN(24), -r.IntN(28))
	}
	if !left.After(joined) {
		left = joined.AddDate(1, 0, 0)
	}
	dept := pick(r, departments)
	tags := []string{}
	if t, ok := deptTags[dept]; ok {
		tags = append(tags, t)
	}
	if r.IntN(100) < 15 {
		tags = append(tags, "boomerang")
	}
	if r.IntN(100) < 10 {
		tags = append(tags, "referral")
	}
	if left.Year() < 2010 && r.IntN(2) == 0 {
		tags = append(tags, "ob-og")
	}
	// One in five asked for the monthly note (monthly-alumni-note.yaml's
	// audience). Chosen by row, not by r, so that every other column stays
	// as it was before the tag existed.
	if i%5 == 0 {
		tags = append(tags, "monthly-note")
	}

	// Consent is mostly given at or soon after leaving, with its source;
	// some rows say yes without a date (import records the import time).
	consent, consentedAt, source := "はい", "", ""
	consentDate := func(days int) string {
		d := left.AddDate(0, 0, r.IntN(days))
		if limit := time.Date(2026, 10, 31, 0, 0, 0, 0, time.UTC); d.After(limit) {
			d = limit
		}
		return d.Format("2006/1/2")
	}
	switch c := r.IntN(100); {
	case c < 82:
		consentedAt, source = consentDate(90), pick(r, sources)
	case c < 90:
		consentedAt = consentDate(30)
	case c < 93:
	case c < 97:
		consent = "いいえ"
	default:
		consent = ""
	}
	employeeID := fmt.Sprintf("K%05d", 10001+i)
	if r.IntN(100) < 5 {
		employeeID = "" // contractors had none
	}
	return []string{
		email, family, given, familyKana, givenKana, employeeID, dept,
		joined.Format("2006/1/2"), left.Format("2006/1/2"), locale, zone,
		strings.Join(tags, ";"), consent, consentedAt, source,
	}
}

func pick(r *rand.Rand, s []string) string { return s[r.IntN(len(s))] }
