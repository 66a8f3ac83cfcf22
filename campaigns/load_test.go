package campaigns

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const examplesDir = "../examples/campaigns"

// A minimal valid campaign the broken cases start from (line numbers in
// the cases below refer to the text each case writes).
const goodDefaults = `company:
  name: 株式会社サンプル技研
  address: 東京都渋谷区サンプル町1-2-3
  contact: "alumni@example.co.jp / 03-0000-0000"
from: "サンプル技研 人事部 <alumni@example.co.jp>"
`

const goodCampaign = `id: ok-1
kind: newsletter
subject:
  ja: "{{.FamilyName}}様 お知らせ"
  en: "News for {{.GivenName}}"
template:
  body:
    ja:
      intros: ["こんにちは"]
    en:
      intros: ["Hello"]
`

// writeFolder writes files (name → text) into a fresh folder.
func writeFolder(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// relative lists problems as "name:line:col: message" without the folder.
func relative(dir string, ps Problems) []string {
	var out []string
	for _, p := range ps {
		out = append(out, strings.TrimPrefix(p.String(), dir+string(filepath.Separator)))
	}
	return out
}

func TestExamplesLoadWithoutProblems(t *testing.T) {
	t.Parallel()
	cs, probs := Load(examplesDir)
	if len(probs) > 0 {
		t.Fatalf("examples have problems:\n%v", probs)
	}
	ids := map[string]*Campaign{}
	for _, c := range cs {
		ids[c.ID] = c
	}
	for _, want := range []string{"2027-q1-newsletter", "2026-12-year-end", "2027-02-boomerang-hiring", "monthly-alumni-note"} {
		if ids[want] == nil {
			t.Errorf("example %s not loaded (got %d campaigns)", want, len(cs))
		}
	}
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	notBefore := time.Date(2026, 11, 23, 0, 0, 0, 0, tokyo)
	for _, c := range cs {
		if c.Company.Name != "株式会社サンプル技研" || c.Company.Address == "" || c.Company.Contact == "" {
			t.Errorf("%s: company not inherited from kizuna.yaml: %+v", c.ID, c.Company)
		}
		if c.Throttle.Domains["docomo.ne.jp"] != 30 || c.Throttle.PerMinute != 600 {
			t.Errorf("%s: throttle not inherited: %+v", c.ID, c.Throttle)
		}
		for _, l := range []string{"ja", "en"} {
			if c.Subject[l] == "" {
				t.Errorf("%s: no %s subject", c.ID, l)
			}
			if _, ok := c.Template.Body[l]; !ok {
				t.Errorf("%s: no %s body", c.ID, l)
			}
		}
		if at := c.Schedule.At; at != nil && (at.Before(notBefore) || at.Minute() != 10) {
			t.Errorf("%s: at %v should be in the future and off the hour", c.ID, at)
		}
		if len(c.Digest) != 64 {
			t.Errorf("%s: digest %q", c.ID, c.Digest)
		}
	}
	ev := ids["2026-12-year-end"]
	if ev == nil || ev.Event == nil {
		t.Fatal("event example has no event")
	}
	if !reflect.DeepEqual(ev.Event.Reminders, []time.Duration{72 * time.Hour, 3 * time.Hour}) || ev.Event.Capacity != 60 || ev.Event.RSVPDeadline == nil {
		t.Errorf("event block: %+v", ev.Event)
	}
	if w := ev.Schedule.Window; w == nil || w.StartMinute != 9*60 || w.EndMinute != 18*60 || !w.WeekdaysOnly || !w.SkipHolidays {
		t.Errorf("event window: %+v", w)
	}
	if m := ids["monthly-alumni-note"]; m == nil || m.Schedule.Cron != "10 10 5 * *" || m.Tracking.Opens || !m.Tracking.Clicks || m.Schedule.MaxLate != 3*time.Hour {
		t.Errorf("monthly note: %+v", m)
	}
}

// Each rule of the campaign format, broken once, gives exactly these
// problems (file:line:col: message).
func TestBrokenCampaigns(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		defaults string // kizuna.yaml; goodDefaults when empty
		campaign string
		want     []string
	}{
		{"unknown key with suggestion", "", goodCampaign + "trakcing: { opens: false }\n",
			[]string{`c.yaml:12:1: unknown key "trakcing" (did you mean "tracking"?)`}},
		{"unknown nested key", "", strings.Replace(goodCampaign, "      intros: [\"Hello\"]", "      intros: [\"Hello\"]\n      footer: x", 1),
			[]string{`c.yaml:12:7: template.body.en: unknown key "footer" (known: intros, dictionary, table, actions, outros, markdown, signature)`}},
		{"bad id", "", strings.Replace(goodCampaign, "id: ok-1", "id: Year_End", 1),
			[]string{`c.yaml:1:5: id: campaign id "Year_End" must match [a-z0-9][a-z0-9-]{0,62} (lower-case letters, digits and hyphens)`}},
		{"missing id and kind", "", strings.Replace(strings.Replace(goodCampaign, "id: ok-1\n", "", 1), "kind: newsletter\n", "", 1),
			[]string{
				`c.yaml:1:1: id is required (a stable name such as 2026-12-year-end)`,
				`c.yaml:1:1: kind is required (newsletter or event)`,
			}},
		{"wrong type", "", goodCampaign + "tracking: { opens: 1 }\n",
			[]string{`c.yaml:12:20: tracking.opens: must be true or false`}},
		{"at without offset", "", goodCampaign + "schedule:\n  at: 2026-12-01T10:10:00\n",
			[]string{`c.yaml:13:7: schedule.at: date-time "2026-12-01T10:10:00" needs an explicit offset, e.g. 2026-12-01T10:10:00+09:00`}},
		{"bad date in range and reversed range", "", goodCampaign + "audience:\n  left_between: [2020-13-45, 2021-01-01]\n  joined_between: [2020-01-02, 2020-01-01]\n",
			[]string{
				`c.yaml:13:18: audience.left_between[0]: bad date "2020-13-45" (want YYYY-MM-DD)`,
				`c.yaml:14:3: audience.joined_between: from 2020-01-02 is after to 2020-01-01`,
			}},
		{"durations", "", goodCampaign + "schedule:\n  cron: \"10 10 1 * *\"\n  max_late: 1.5h\n",
			[]string{`c.yaml:14:13: schedule.max_late: bad duration "1.5h" (write a number and one unit: 90m, 72h, 30d, 2w, 1y)`}},
		{"cron with six fields, a descriptor, bad zone", "", goodCampaign + "schedule:\n  cron: \"0 10 10 1 * *\"\n  timezone: Tokyo\n",
			[]string{
				`c.yaml:13:9: schedule.cron: cron "0 10 10 1 * *" has 6 fields; write exactly 5 (minute hour day month weekday), e.g. "10 10 1 * *"`,
				`c.yaml:14:13: schedule.timezone: unknown time zone "Tokyo" (use an IANA name such as Asia/Tokyo)`,
			}},
		{"cron descriptor", "", goodCampaign + "schedule: { cron: \"@daily\" }\n",
			[]string{`c.yaml:12:19: schedule.cron: cron "@daily": descriptors are not accepted; write 5 fields (minute hour day month weekday), e.g. "10 10 1 * *"`}},
		{"cron out of range", "", goodCampaign + "schedule: { cron: \"70 10 * * *\" }\n",
			[]string{`c.yaml:12:19: schedule.cron: cron "70 10 * * *": end of range (70) above maximum (59): 70`}},
		{"both at and cron", "", goodCampaign + "schedule:\n  at: 2026-12-01T10:10:00+09:00\n  cron: \"10 10 1 * *\"\n",
			[]string{`c.yaml:14:9: schedule.cron: give either at (one-off) or cron (recurring), not both`}},
		{"window", "", goodCampaign + "schedule:\n  window: { hours: \"9-18\", days: weekday, skip_holidays: us }\n",
			[]string{
				`c.yaml:13:20: schedule.window.hours: bad hours "9-18" (want "HH:MM-HH:MM", e.g. "09:00-18:00")`,
				`c.yaml:13:34: schedule.window.days: "weekday" is not one of every, weekdays (did you mean "weekdays"?)`,
				`c.yaml:13:58: schedule.window.skip_holidays: "us" is not one of jp`,
			}},
		{"template syntax", "", strings.Replace(goodCampaign, `"News for {{.GivenName}}"`, `"{{if .VIP}}Hi{{end}} {{.GivenName | upper}} {{.GivenNmae}} {{.Event.Title}} }}"`, 1),
			[]string{
				`c.yaml:5:7: subject.en: template: only plain {{.Field}} substitutions are allowed, not {{.GivenName | upper}} (no conditions, loops, pipes or functions)`,
				`c.yaml:5:7: subject.en: template: only plain {{.Field}} substitutions are allowed, not {{end}} (no conditions, loops, pipes or functions)`,
				`c.yaml:5:7: subject.en: template: only plain {{.Field}} substitutions are allowed, not {{if .VIP}} (no conditions, loops, pipes or functions)`,
				`c.yaml:5:7: subject.en: template: unknown field {{.GivenNmae}} (did you mean {{.GivenName}}?); the fields are FamilyName, GivenName, FullName, Department, JoinedOn, LeftOn, YearsSinceLeft, Email`,
				`c.yaml:5:7: subject.en: template: {{.Event.Title}} is only available in event campaigns (kind: event)`,
				`c.yaml:5:7: subject.en: unbalanced braces: }} without an opening {{`,
			}},
		{"unbalanced braces in body", "", strings.Replace(goodCampaign, `intros: ["こんにちは"]`, `intros: ["{{.FamilyName様"]`, 1),
			[]string{`c.yaml:9:16: template.body.ja.intros[0]: unbalanced braces: {{ without a closing }}`}},
		{"missing locale", "", strings.Replace(goodCampaign, "    en:\n      intros: [\"Hello\"]\n", "", 1),
			[]string{`c.yaml:7:3: template.body.en is required (the audience includes locale en)`}},
		{"locale only needed when in the audience", "", strings.Replace(strings.Replace(goodCampaign, "    en:\n      intros: [\"Hello\"]\n", "", 1), "  en: \"News for {{.GivenName}}\"\n", "", 1) + "audience: { locales: [ja] }\n", nil},
		{"missing company identity", "from: alumni@example.co.jp\n", goodCampaign,
			[]string{`c.yaml:1:1: company is required (name, address and contact of the sender, required in every message by the Japanese law on commercial email; set it once in kizuna.yaml)`}},
		{"incomplete company in kizuna.yaml", "company: { name: X社, contact: a@example.co.jp }\nfrom: a@example.co.jp\n", goodCampaign,
			[]string{`kizuna.yaml:1:1: company.address is required (the sender's postal address, shown in every message)`}},
		{"campaign completes the company", "company: { name: X社, contact: a@example.co.jp }\nfrom: a@example.co.jp\n", goodCampaign + "company: { address: 東京都 }\n", nil},
		{"bad from and reply_to", "", goodCampaign + "from: not an address\nreply_to: \"a@b\"\n",
			[]string{
				`c.yaml:12:7: from: not a valid email address "not an address" (write addr@example.co.jp or "Name <addr@example.co.jp>")`,
				`c.yaml:13:11: reply_to: not a valid email address "a@b": the domain needs a dot`,
			}},
		{"event without event block", "", strings.Replace(goodCampaign, "kind: newsletter", "kind: event", 1),
			[]string{`c.yaml:1:1: event is required (an event campaign needs its event block: title, starts_at, ends_at, location)`}},
		{"event block on a newsletter", "", goodCampaign + "event:\n  title: x\n",
			[]string{`c.yaml:12:1: event: an event block belongs to kind: event campaigns only`}},
		{"event block rules", "", strings.Replace(goodCampaign, "kind: newsletter", "kind: event", 1) + `schedule: { at: 2026-12-20T10:10:00+09:00 }
event:
  starts_at: 2026-12-18T21:00:00+09:00
  ends_at: 2026-12-18T19:00:00+09:00
  url: example.co.jp/ev
  capacity: -1
  rsvp_deadline: 2026-12-19T00:00:00+09:00
  reminders: [72h, 3x, 72h]
`, []string{
			`c.yaml:12:17: schedule.at: the invitation would be sent after the event starts (2026-12-18T21:00:00+09:00)`,
			`c.yaml:13:1: event.title is required`,
			`c.yaml:15:12: event.ends_at: the event must end after it starts (starts_at 2026-12-18T21:00:00+09:00)`,
			`c.yaml:16:8: event.url: not an absolute http(s) URL: "example.co.jp/ev"`,
			`c.yaml:17:13: event.capacity: must be a whole number from 0 to 1000000`,
			`c.yaml:18:18: event.rsvp_deadline: the RSVP deadline is after the event starts (2026-12-18T21:00:00+09:00)`,
			`c.yaml:19:20: event.reminders[1]: bad duration "3x" (write a number and one unit: 90m, 72h, 30d, 2w, 1y)`,
			`c.yaml:19:24: event.reminders[2]: reminder 3d is listed twice`,
		}},
		{"event invitation by cron", "", strings.Replace(goodCampaign, "kind: newsletter", "kind: event", 1) + "schedule: { cron: \"10 10 1 * *\" }\nevent: { title: t, starts_at: 2026-12-18T19:00:00+09:00, ends_at: 2026-12-18T21:00:00+09:00, location: 本社 }\n",
			[]string{"c.yaml:12:19: schedule.cron: an event invitation is sent once: use schedule.at (or no schedule and `kizuna campaign start`), not cron"}},
		{"event fields allowed in events", "", strings.Replace(strings.Replace(goodCampaign, "kind: newsletter", "kind: event", 1), "{{.GivenName}}", "{{.Event.Title}} {{ .Event.Start }}", 1) + "event: { title: t, starts_at: 2026-12-18T19:00:00+09:00, ends_at: 2026-12-18T21:00:00+09:00, location: 本社 }\n", nil},
		{"not supported yet", "frequency_cap: { max: 4, per: 30d }\n" + goodDefaults, strings.Replace(goodCampaign, "kind: newsletter", "kind: newsletter\ntrigger: { after: left_on, offset: 30d }", 1),
			[]string{
				`c.yaml:3:1: "trigger" is not supported yet (lifecycle and engagement campaigns come in a later release)`,
				`kizuna.yaml:1:1: "frequency_cap" is not supported yet (lifecycle and engagement campaigns come in a later release)`,
			}},
		{"campaign-only key in kizuna.yaml", "id: shared\n" + goodDefaults, goodCampaign,
			[]string{`kizuna.yaml:1:1: "id" belongs in a campaign file, not in kizuna.yaml`}},
		{"markdown with intros, empty body, table shape, action", "", strings.Replace(goodCampaign, `      intros: ["Hello"]`, `      intros: ["Hello"]
      markdown: "**Hi**"
      table: { columns: [a, b], rows: [[1, 2, 3]] }
      actions:
        - button: { text: Go, link: "javascript:alert(1)", color: red }
        - instructions: x`, 1),
			[]string{
				`c.yaml:11:7: template.body.en.intros: markdown replaces intros, dictionary, table and actions: use one or the other`,
				`c.yaml:13:7: template.body.en.table: markdown replaces intros, dictionary, table and actions: use one or the other`,
				`c.yaml:13:40: template.body.en.table.rows[0]: has 3 cells for 2 columns`,
				`c.yaml:14:7: template.body.en.actions: markdown replaces intros, dictionary, table and actions: use one or the other`,
				`c.yaml:15:37: template.body.en.actions[0].button.link: not an absolute http(s) or mailto: link: "javascript:alert(1)"`,
				`c.yaml:15:67: template.body.en.actions[0].button.color: color "red" must be #rgb or #rrggbb`,
				`c.yaml:16:11: template.body.en.actions[1].button is required (text and link)`,
			}},
		{"empty body", "", strings.Replace(goodCampaign, `      intros: ["Hello"]`, `      signature: x`, 1),
			[]string{`c.yaml:10:5: template.body.en: the body is empty: give intros, dictionary, table, actions, outros or markdown`}},
		{"throttle types", "throttle: { per_minute: fast, domains: { docomo.ne.jp: 30, \"bad domain\": 5 } }\n" + goodDefaults, goodCampaign,
			[]string{
				`kizuna.yaml:1:25: throttle.per_minute: must be a whole number`,
				`kizuna.yaml:1:60: throttle.domains: "bad domain" is not a domain name`,
			}},
		{"bounces types", "bounces: { soft_limit: 0, hard: yes }\n" + goodDefaults, goodCampaign,
			[]string{
				`kizuna.yaml:1:24: bounces.soft_limit: must be a whole number from 1 to 100`,
				`kizuna.yaml:1:27: bounces: unknown key "hard" (known: soft_limit)`,
			}},
		{"bounces in a campaign file", "", goodCampaign + "bounces: { soft_limit: 2 }\n",
			[]string{`c.yaml:12:1: "bounces" belongs in kizuna.yaml: it applies to every campaign of the folder`}},
		{"anchors and aliases", "", goodCampaign + "audience:\n  tags_any: &t [a]\n  tags_none: *t\n",
			[]string{
				`c.yaml:13:13: audience.tags_any: YAML anchors (&name) are not supported; write the value out`,
				`c.yaml:14:14: audience.tags_none: YAML aliases (*name) are not supported; write the value out`,
			}},
		{"syntax error", "", "id: [x\nkind: event\n",
			[]string{`c.yaml:1:5: YAML syntax: this [ is not closed: ',' or ']' must be specified before line 2`}},
		{"duplicate key", "", goodCampaign + "id: again\n",
			[]string{`c.yaml:12:1: YAML syntax: mapping key "id" already defined at [1:1]`}},
		{"two documents", "", goodCampaign + "---\nid: other\n",
			[]string{`c.yaml:12:1: a campaign file holds one YAML document; split this one into its own file`}},
		{"not a mapping", "", "- a\n- b\n",
			[]string{`c.yaml:1:1: must be a mapping of id, kind, subject, audience, schedule, tracking, template, event, company, from, reply_to, throttle, fallback`}},
		{"empty file", "", "",
			[]string{`c.yaml:1:1: empty campaign file: id, kind, subject and template are required`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			def := tc.defaults
			if def == "" {
				def = goodDefaults
			}
			dir := writeFolder(t, map[string]string{"kizuna.yaml": def, "c.yaml": tc.campaign})
			cs, probs := Load(dir)
			got := relative(dir, probs)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if len(tc.want) == 0 && len(cs) != 1 {
				t.Errorf("valid campaign not returned")
			}
			if len(tc.want) > 0 && len(cs) != 0 {
				t.Errorf("an invalid campaign was returned: %+v", cs[0])
			}
		})
	}
}
