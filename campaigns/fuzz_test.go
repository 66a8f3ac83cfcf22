package campaigns

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadCampaign feeds arbitrary bytes to the loader as a campaign file
// (beside a valid kizuna.yaml): it must never panic, and it returns either
// a campaign or problems with a position in a file it was given.
func FuzzLoadCampaign(f *testing.F) {
	for _, p := range []string{"2027-q1-newsletter.yaml", "2026-12-year-end.yaml", "2027-02-boomerang-hiring.yaml", "monthly-alumni-note.yaml", "kizuna.yaml"} {
		b, err := os.ReadFile(filepath.Join(examplesDir, p))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(goodCampaign))
	f.Add([]byte("a: &x [*x, *x]\nb: *x\n"))
	f.Add([]byte("id: [x\n"))
	f.Add([]byte(goodCampaign + "fallback:\n  ja: { FamilyName: 皆, Email: x, Event.URL: y }\n  en: [1]\n  fr: {}\n"))
	f.Add([]byte("subject: { ja: \"{{if .X}}{{.Email\" }\n"))
	dir := f.TempDir()
	if err := os.WriteFile(filepath.Join(dir, DefaultsFile), []byte(goodDefaults), 0o644); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		// Each input gets its own folder: the fuzzer runs workers in parallel.
		sub, err := os.MkdirTemp(dir, "c")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(sub)
		path := filepath.Join(sub, "c.yaml")
		if err := os.WriteFile(path, src, 0o644); err != nil {
			t.Fatal(err)
		}
		c, probs := LoadFile(path)
		if (c == nil) == (len(probs) == 0) {
			t.Fatalf("campaign %v with problems %v", c, probs)
		}
		for _, p := range probs {
			if p.File != path || p.Message == "" || p.Line < 0 || p.Col < 0 {
				t.Fatalf("bad problem %#v", p)
			}
		}
		if c != nil {
			if !idRE.MatchString(c.ID) || len(c.Digest) != 64 || c.Company.Name == "" {
				t.Fatalf("invalid campaign accepted: %+v", c)
			}
		}
	})
}
