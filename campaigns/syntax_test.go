package campaigns

import (
	"strings"
	"testing"
)

// A YAML syntax error points at the line and column where the file is
// wrong, not where the parser happened to notice: each broken file below
// has its mistake at want.
func TestYAMLSyntaxErrorPositions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		src       string
		line, col int
		mention   string
	}{
		{"key indented deeper than its siblings",
			"id: x\nkind: newsletter\nsubject:\n  ja: a\n   en: b\naudience:\n  locales: [ja]\n", 5, 4, "indent"},
		{"key indented deeper after a comment",
			"id: x\nsubject:\n  ja: a\n     # c\n    en: b\n", 5, 5, ""},
		{"key indented less than its siblings",
			"id: x\nkind: newsletter\nsubject:\n    ja: a\n  en: b\n", 5, 3, ""},
		{"unclosed double quote",
			"id: x\nkind: newsletter\nsubject:\n  ja: \"abc\n  en: b\n", 4, 7, "double-quoted"},
		{"unclosed single quote",
			"id: x\nkind: newsletter\nsubject:\n  ja: 'abc\n  en: b\n", 4, 7, "single-quoted"},
		{"tab indent",
			"id: x\nkind: newsletter\nsubject:\n\tja: a\n", 4, 1, "'\t'"},
		{"missing colon after a key",
			"id: x\nkind: newsletter\nsubject\n  ja: a\n", 3, 1, ""},
		{"missing colon inside a mapping",
			"id: x\nsubject:\n  ja a\n  en: b\n", 3, 3, ""},
		{"unclosed flow sequence",
			"id: x\nkind: newsletter\naudience:\n  locales: [ja, en\nschedule:\n  at: 2026-01-01T00:00:00+09:00\n", 4, 12, "]"},
		{"unclosed flow sequence at the end",
			"id: x\naudience:\n  locales: [ja, en\n", 3, 12, "]"},
		{"unclosed flow mapping",
			"id: x\ntracking: { opens: true\ntemplate:\n  theme: flat\n", 2, 11, "}"},
		{"duplicate key",
			"id: x\nkind: newsletter\nid: y\n", 3, 1, "already defined"},
	}
	for _, c := range cases {
		_, probs := parseYAML("f.yaml", []byte(c.src))
		if len(probs) != 1 {
			t.Errorf("%s: %d problems %v, want 1", c.name, len(probs), probs)
			continue
		}
		p := probs[0]
		if p.Line != c.line || p.Col != c.col {
			line := ""
			if ls := strings.Split(c.src, "\n"); c.line-1 < len(ls) {
				line = ls[c.line-1]
			}
			t.Errorf("%s: reported %d:%d (%s), want %d:%d, the line %q", c.name, p.Line, p.Col, p.Message, c.line, c.col, line)
		}
		if !strings.Contains(p.Message, "YAML syntax") || !strings.Contains(p.Message, c.mention) {
			t.Errorf("%s: message %q, want YAML syntax and %q", c.name, p.Message, c.mention)
		}
	}
}
