package campaigns

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Maps merge key by key across kizuna.yaml and the campaign; the
// campaign's values win; lists are replaced, not merged.
func TestDefaultsMergeKeyByKey(t *testing.T) {
	t.Parallel()
	def := goodDefaults + `throttle:
  per_minute: 600
  per_day: 2000
  domains: { docomo.ne.jp: 30, ezweb.ne.jp: 20 }
tracking: { opens: false }
audience: { tags_none: [do-not-contact], consent: any }
schedule: { timezone: Europe/Berlin, max_late: 2h }
`
	camp := goodCampaign + `throttle:
  per_minute: 100
  domains: { ezweb.ne.jp: 10, au.com: 5 }
audience: { tags_none: [vip] }
schedule: { cron: "10 10 * * 1" }
reply_to: hr@example.co.jp
`
	dir := writeFolder(t, map[string]string{"kizuna.yaml": def, "c.yaml": camp})
	c, probs := LoadFile(filepath.Join(dir, "c.yaml"))
	if probs != nil {
		t.Fatal(probs)
	}
	want := Throttle{PerMinute: 100, PerDay: 2000, Domains: map[string]int{"docomo.ne.jp": 30, "ezweb.ne.jp": 10, "au.com": 5}}
	if !reflect.DeepEqual(c.Throttle, want) {
		t.Errorf("throttle %+v, want %+v", c.Throttle, want)
	}
	if c.Tracking.Opens || !c.Tracking.Clicks {
		t.Errorf("tracking %+v", c.Tracking)
	}
	if !reflect.DeepEqual(c.Audience.TagsNone, []string{"vip"}) || c.Audience.Consent != ConsentAny {
		t.Errorf("audience %+v", c.Audience)
	}
	if c.Schedule.Timezone != "Europe/Berlin" || c.Schedule.MaxLate != 2*time.Hour || c.Schedule.Cron != "10 10 * * 1" {
		t.Errorf("schedule %+v", c.Schedule)
	}
	if c.ReplyTo != "hr@example.co.jp" || c.Company.Name != "株式会社サンプル技研" {
		t.Errorf("reply_to %q company %+v", c.ReplyTo, c.Company)
	}
}

func TestDefaultsWhenLeftOut(t *testing.T) {
	t.Parallel()
	dir := writeFolder(t, map[string]string{"kizuna.yaml": goodDefaults, "c.yaml": goodCampaign})
	c, probs := LoadFile(filepath.Join(dir, "c.yaml"))
	if probs != nil {
		t.Fatal(probs)
	}
	if !reflect.DeepEqual(c.Audience.Locales, []string{"ja", "en"}) || c.Audience.Consent != ConsentRequired ||
		c.Schedule.Timezone != "Asia/Tokyo" || c.Schedule.MaxLate != time.Hour || c.Schedule.At != nil || c.Schedule.Cron != "" ||
		!c.Tracking.Opens || !c.Tracking.Clicks || c.Template.Theme != "default" || c.Event != nil {
		t.Errorf("defaults not applied: %+v", c)
	}
	if c.ReplyTo != "alumni@example.co.jp" {
		t.Errorf("reply_to defaults to the from address, got %q", c.ReplyTo)
	}
	if c.Schedule.Summary() != "manual (kizuna campaign start)" {
		t.Errorf("summary %q", c.Schedule.Summary())
	}
}

func TestWindowCrossesMidnight(t *testing.T) {
	t.Parallel()
	dir := writeFolder(t, map[string]string{"kizuna.yaml": goodDefaults,
		"c.yaml": goodCampaign + "schedule: { at: 2027-01-13T10:10:00Z, window: { hours: \"22:30-06:15\" } }\n"})
	c, probs := LoadFile(filepath.Join(dir, "c.yaml"))
	if probs != nil {
		t.Fatal(probs)
	}
	if w := c.Schedule.Window; w.StartMinute != 22*60+30 || w.EndMinute != 6*60+15 || w.WeekdaysOnly || w.SkipHolidays {
		t.Errorf("window %+v", w)
	}
	dir = writeFolder(t, map[string]string{"kizuna.yaml": goodDefaults,
		"c.yaml": goodCampaign + "schedule: { window: { days: weekdays, skip_holidays: jp } }\n"})
	if c, probs := LoadFile(filepath.Join(dir, "c.yaml")); probs != nil || *c.Schedule.Window != (Window{0, 24 * 60, true, true}) {
		t.Errorf("window without hours: %v %+v", probs, c)
	}
	if got := c.Schedule.At.UTC(); !got.Equal(time.Date(2027, 1, 13, 10, 10, 0, 0, time.UTC)) {
		t.Errorf("at %v", got)
	}
}

// The digest changes with any content, not with where the file lives, and
// changes when inherited defaults change.
func TestDigest(t *testing.T) {
	t.Parallel()
	load := func(defaults, campaign, name string) string {
		t.Helper()
		dir := writeFolder(t, map[string]string{"kizuna.yaml": defaults, name: campaign})
		c, probs := LoadFile(filepath.Join(dir, name))
		if probs != nil {
			t.Fatal(probs)
		}
		return c.Digest
	}
	base := load(goodDefaults, goodCampaign, "c.yaml")
	if again := load(goodDefaults, "# a comment\n"+goodCampaign, "other.yml"); again != base {
		t.Errorf("comment or file name changed the digest")
	}
	if d := load(goodDefaults, strings.Replace(goodCampaign, "Hello", "Hello!", 1), "c.yaml"); d == base {
		t.Errorf("a body edit kept the digest")
	}
	if d := load(strings.Replace(goodDefaults, "1-2-3", "1-2-4", 1), goodCampaign, "c.yaml"); d == base {
		t.Errorf("a company address edit in kizuna.yaml kept the digest")
	}
}

func TestIDsUniqueAcrossWhatIsLoaded(t *testing.T) {
	t.Parallel()
	a := writeFolder(t, map[string]string{"kizuna.yaml": goodDefaults, "a.yaml": goodCampaign, "b.yml": goodCampaign, "notes.txt": "not yaml", ".hidden.yaml": "junk: ["})
	cs, probs := Load(a)
	want := []string{`b.yml:1:5: campaign id "ok-1" is already used by ` + filepath.Join(a, "a.yaml") + `:1`}
	if got := relative(a, probs); !reflect.DeepEqual(got, want) {
		t.Errorf("problems %q, want %q", got, want)
	}
	if len(cs) != 1 || filepath.Base(cs[0].File) != "a.yaml" {
		t.Errorf("campaigns %v", cs)
	}
	// Across two folders too.
	b := writeFolder(t, map[string]string{"kizuna.yaml": goodDefaults, "c.yaml": goodCampaign})
	_, probs = Load(filepath.Join(a, "a.yaml"), b)
	if len(probs) != 1 || !strings.Contains(probs[0].Message, "already used") {
		t.Errorf("problems across folders: %v", probs)
	}
}

func TestLoadPaths(t *testing.T) {
	t.Parallel()
	dir := writeFolder(t, map[string]string{"kizuna.yaml": goodDefaults + "bogus: 1\n", "c.yaml": goodCampaign})
	// Passing kizuna.yaml itself checks only the defaults.
	cs, probs := Load(filepath.Join(dir, "kizuna.yaml"))
	if len(cs) != 0 || len(probs) != 1 || probs[0].String() != filepath.Join(dir, "kizuna.yaml")+`:6:1: unknown key "bogus" (known: company, from, reply_to, throttle, tracking, template, schedule, audience, fallback, bounces)` {
		t.Errorf("kizuna.yaml alone: %v %v", cs, probs)
	}
	// The problem is reported once, though the folder and the file both use it.
	_, probs = Load(dir, filepath.Join(dir, "c.yaml"))
	if len(probs) != 1 {
		t.Errorf("want the kizuna.yaml problem once, got %v", probs)
	}
	_, probs = Load(filepath.Join(dir, "missing.yaml"))
	if len(probs) != 1 || probs[0].String() != filepath.Join(dir, "missing.yaml")+": no such file or folder" {
		t.Errorf("missing file: %v", probs)
	}
	if _, probs := LoadFile(dir + "/nothing-here"); probs == nil {
		t.Error("LoadFile of a missing file returned no problem")
	}
}

func TestUnreadableInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := map[string]struct {
		path string
		want string
	}{
		"cp932":  {write("sjis.yaml", []byte("id: x\nkind: \x93\xfa\x96\x7b\n")), ":2:1: not UTF-8 text (save the file as UTF-8)"},
		"nul":    {write("nul.yaml", []byte("id: x\x00\n")), ":1:1: the file holds a NUL byte: not a text file"},
		"large":  {write("big.yaml", []byte(strings.Repeat("# padding\n", 120_000))), ": file is larger than 1024 KiB; a campaign file is much smaller"},
		"bom ok": {write("bom.yaml", append([]byte("\xef\xbb\xbf"), "- x\n"...)), ":1:1: must be a mapping of id, kind, subject, audience, schedule, tracking, template, event, company, from, reply_to, throttle, fallback"},
	}
	for name, tc := range cases {
		_, probs := LoadFile(tc.path)
		if len(probs) != 1 || probs[0].String() != tc.path+tc.want {
			t.Errorf("%s: %v", name, probs)
		}
	}
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{"90m": 90 * time.Minute, "72h": 72 * time.Hour, "30d": 30 * 24 * time.Hour, "2w": 14 * 24 * time.Hour, "1y": 365 * 24 * time.Hour} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("%s: %v %v", in, got, err)
		}
		if FormatDuration(got) != map[string]string{"90m": "90m", "72h": "3d", "30d": "30d", "2w": "2w", "1y": "1y"}[in] {
			t.Errorf("format %s: %s", in, FormatDuration(got))
		}
	}
	for _, bad := range []string{"", "0h", "1", "h", "1.5h", "-1h", "1h30m", "1s", "10 d", "1234567h"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCheckTemplate(t *testing.T) {
	t.Parallel()
	ok := []string{"", "plain", "{{.FamilyName}}様", "{{ .GivenName }} {{.Email}}", "a { b } c", "{x}"}
	for _, s := range ok {
		if bad := checkTemplate(s, false); bad != nil {
			t.Errorf("%q: %v", s, bad)
		}
	}
	if bad := checkTemplate("{{.Event.URL}}", true); bad != nil {
		t.Errorf("event field in event: %v", bad)
	}
	for _, s := range []string{"{{.Unknown}}", "{{.familyname}}", "{{printf \"%s\" .Email}}", "{{range .X}}{{end}}", "{{- .Email -}}", "{{.Email}", "{.Email}}", "{{}}", "{{.Email}}}}", "{{ {{.Email}} }}", "{{/* c */}}", "{{.Event.Title}}", "{{$x := 1}}", "{{.Email.Foo}}"} {
		if bad := checkTemplate(s, false); bad == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

// kizuna.yaml's bounces block reaches every campaign of the folder (and
// its version: the inbound intake reads the limit there); without it the
// limit is the default and the digest is what it was before the block
// existed.
func TestBouncesSoftLimitInherited(t *testing.T) {
	t.Parallel()
	dir := writeFolder(t, map[string]string{"kizuna.yaml": goodDefaults + "bounces: { soft_limit: 5 }\n", "c.yaml": goodCampaign})
	c, probs := LoadFile(filepath.Join(dir, "c.yaml"))
	if probs != nil {
		t.Fatal(probs)
	}
	if c.SoftBounceLimit() != 5 {
		t.Errorf("soft limit %d, want 5", c.SoftBounceLimit())
	}
	plain := writeFolder(t, map[string]string{"kizuna.yaml": goodDefaults, "c.yaml": goodCampaign})
	p, probs := LoadFile(filepath.Join(plain, "c.yaml"))
	if probs != nil {
		t.Fatal(probs)
	}
	if p.Bounces != nil || p.SoftBounceLimit() != DefaultSoftBounceLimit {
		t.Errorf("bounces %+v, limit %d; want none and %d", p.Bounces, p.SoftBounceLimit(), DefaultSoftBounceLimit)
	}
	if p.Digest == c.Digest {
		t.Error("the soft limit is not part of the campaign's content")
	}
}
