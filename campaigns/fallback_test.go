package campaigns

import (
	"reflect"
	"strings"
	"testing"
)

// A fallback per locale and field, given in kizuna.yaml and in the
// campaign, merges key by key; the campaign's own value wins.
func TestFallbackMergesWithDefaults(t *testing.T) {
	t.Parallel()
	dir := writeFolder(t, map[string]string{
		"kizuna.yaml": goodDefaults + `fallback:
  ja: { FamilyName: "アルムナイの皆", Department: "ご所属部署" }
  en: { GivenName: "friend" }
`,
		"c.yaml": goodCampaign + `fallback:
  en: { GivenName: "there" }
`,
	})
	cs, probs := Load(dir)
	if len(probs) > 0 {
		t.Fatalf("problems: %v", relative(dir, probs))
	}
	want := map[string]map[string]string{
		"ja": {"FamilyName": "アルムナイの皆", "Department": "ご所属部署"},
		"en": {"GivenName": "there"},
	}
	if got := cs[0].Fallback; !reflect.DeepEqual(got, want) {
		t.Errorf("fallback = %v, want %v", got, want)
	}
	fb, ok := cs[0].FallbackFor("ja", "FamilyName")
	if !ok || fb != "アルムナイの皆" {
		t.Errorf("FallbackFor(ja, FamilyName) = %q, %v", fb, ok)
	}
	if _, ok := cs[0].FallbackFor("en", "FamilyName"); ok {
		t.Error("FallbackFor(en, FamilyName) found a fallback that was never given")
	}
}

// An explicit empty fallback is allowed: it says the empty value is wanted.
func TestFallbackEmptyTextIsAFallback(t *testing.T) {
	t.Parallel()
	dir := writeFolder(t, map[string]string{
		"kizuna.yaml": goodDefaults,
		"c.yaml":      goodCampaign + "fallback:\n  en: { GivenName: \"\" }\n",
	})
	cs, probs := Load(dir)
	if len(probs) > 0 {
		t.Fatalf("problems: %v", relative(dir, probs))
	}
	if fb, ok := cs[0].FallbackFor("en", "GivenName"); !ok || fb != "" {
		t.Errorf("FallbackFor(en, GivenName) = %q, %v; want \"\", true", fb, ok)
	}
}

// A campaign without fallbacks keeps the digest it had before fallbacks
// existed: upgrading does not make every campaign a new version.
func TestFallbackAbsentLeavesDigestShape(t *testing.T) {
	t.Parallel()
	dir := writeFolder(t, map[string]string{"kizuna.yaml": goodDefaults, "c.yaml": goodCampaign})
	cs, probs := Load(dir)
	if len(probs) > 0 {
		t.Fatalf("problems: %v", relative(dir, probs))
	}
	cp := *cs[0]
	cp.File, cp.Digest = "", ""
	if d := digest(&cp); d != cs[0].Digest {
		t.Fatalf("digest not reproducible")
	}
	if cs[0].Fallback != nil {
		t.Errorf("Fallback = %v, want nil", cs[0].Fallback)
	}
}

func TestFallbackProblems(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, extra string
		want        []string
	}{
		{"unknown field", "fallback:\n  ja: { FamilyNmae: \"皆\" }\n",
			[]string{`c.yaml:13:9: fallback.ja: unknown field "FamilyNmae" (did you mean "FamilyName"?)`}},
		{"snake case", "fallback:\n  ja:\n    family_name: 皆\n",
			[]string{`c.yaml:14:5: fallback.ja: unknown field "family_name" (did you mean "FamilyName"?)`}},
		{"unknown locale", "fallback:\n  fr: { GivenName: \"toi\" }\n",
			[]string{`c.yaml:13:3: fallback: unknown key "fr" (known: ja, en)`}},
		{"email", "fallback:\n  en: { Email: \"x\" }\n",
			[]string{`c.yaml:13:9: fallback.en: {{.Email}} is never empty (every recipient has an address): it takes no fallback`}},
		{"event field", "fallback:\n  en: { Event.Location: \"x\" }\n",
			[]string{`c.yaml:13:9: fallback.en: {{.Event.Location}} is the same for every recipient: set it in the event block, not as a fallback`}},
		{"substitution", "fallback:\n  ja: { FamilyName: \"{{.GivenName}}\" }\n",
			[]string{`c.yaml:13:21: fallback.ja.FamilyName: template substitutions are not allowed here`}},
		{"not text", "fallback:\n  ja: { FamilyName: [a] }\n",
			[]string{`c.yaml:13:9: fallback.ja.FamilyName: must be text`}},
		{"not a mapping", "fallback: アルムナイ\n",
			[]string{`c.yaml:12:11: fallback: must be a mapping of ja, en (each a mapping of field name to text, e.g. ja: { FamilyName: "アルムナイの皆" })`}},
		{"two lines", "fallback:\n  ja: { FamilyName: \"a\\nb\" }\n",
			[]string{`c.yaml:13:21: fallback.ja.FamilyName: a fallback is one line`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := writeFolder(t, map[string]string{"kizuna.yaml": goodDefaults, "c.yaml": goodCampaign + tc.extra})
			_, probs := Load(dir)
			if got := relative(dir, probs); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("problems:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// kizuna.yaml may hold fallbacks; a problem in one points into kizuna.yaml.
func TestFallbackInDefaultsChecked(t *testing.T) {
	t.Parallel()
	dir := writeFolder(t, map[string]string{
		"kizuna.yaml": goodDefaults + "fallback:\n  ja: { Famliy: 皆 }\n",
		"c.yaml":      goodCampaign,
	})
	_, probs := Load(dir)
	got := strings.Join(relative(dir, probs), "\n")
	if !strings.Contains(got, `kizuna.yaml:7:9: fallback.ja: unknown field "Famliy"`) {
		t.Errorf("problems:\n%s", got)
	}
}

func TestUsedFields(t *testing.T) {
	t.Parallel()
	dir := writeFolder(t, map[string]string{
		"kizuna.yaml": goodDefaults,
		"c.yaml": `id: ok-1
kind: newsletter
subject:
  ja: "{{.FamilyName}}様 お知らせ"
  en: "News for {{ .GivenName }}"
template:
  body:
    ja:
      intros: ["{{.Department}}の皆さま", "{{.FamilyName}}様"]
      dictionary: [{ key: 退職日, value: "{{.LeftOn}}" }]
    en:
      markdown: "Hello {{.FullName}}, since {{.YearsSinceLeft}} years"
      signature: "{{.Email}}"
`,
	})
	cs, probs := Load(dir)
	if len(probs) > 0 {
		t.Fatalf("problems: %v", relative(dir, probs))
	}
	if got, want := cs[0].UsedFields("ja"), []string{"FamilyName", "Department", "LeftOn"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ja: %v, want %v", got, want)
	}
	if got, want := cs[0].UsedFields("en"), []string{"GivenName", "FullName", "YearsSinceLeft", "Email"}; !reflect.DeepEqual(got, want) {
		t.Errorf("en: %v, want %v", got, want)
	}
}
