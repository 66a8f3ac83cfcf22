package campaigns

import (
	"fmt"
	"regexp"
	"strings"
)

// fieldRE is the inside of a plain substitution: a dot and a field name,
// with optional spaces (the renderer accepts the same).
var fieldRE = regexp.MustCompile(`^\s*\.([A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*)?)\s*$`)

// checkTemplate returns what is wrong with the substitutions of s: only
// plain {{.Field}} of Fields (and EventFields in event campaigns) are
// allowed, so that a campaign renders once and is personalised per
// recipient by substitution alone.
func checkTemplate(s string, event bool) []string {
	var bad []string
	rest := s
	for {
		open := strings.Index(rest, "{{")
		closeAt := strings.Index(rest, "}}")
		if open < 0 {
			if closeAt >= 0 {
				bad = append(bad, "unbalanced braces: }} without an opening {{")
			}
			return bad
		}
		if closeAt >= 0 && closeAt < open {
			bad = append(bad, "unbalanced braces: }} without an opening {{")
			return bad
		}
		end := strings.Index(rest[open+2:], "}}")
		if end < 0 {
			bad = append(bad, "unbalanced braces: {{ without a closing }}")
			return bad
		}
		inner := rest[open+2 : open+2+end]
		if strings.Contains(inner, "{{") {
			bad = append(bad, "unbalanced braces: {{ inside {{ ... }}")
			return bad
		}
		if msg := checkAction(inner, event); msg != "" {
			bad = append(bad, msg)
		}
		rest = rest[open+2+end+2:]
	}
}

// checkAction checks the inside of one {{ ... }}.
func checkAction(inner string, event bool) string {
	shown := "{{" + inner + "}}"
	if len(shown) > 60 {
		shown = shown[:57] + "...}}"
	}
	m := fieldRE.FindStringSubmatch(inner)
	if m == nil {
		return fmt.Sprintf("template: only plain {{.Field}} substitutions are allowed, not %s (no conditions, loops, pipes or functions)", shown)
	}
	name := m[1]
	for _, f := range Fields {
		if f == name {
			return ""
		}
	}
	for _, f := range EventFields {
		if f == name {
			if event {
				return ""
			}
			return fmt.Sprintf("template: {{.%s}} is only available in event campaigns (kind: event)", name)
		}
	}
	known := Fields
	if event {
		known = append(append([]string(nil), Fields...), EventFields...)
	}
	msg := fmt.Sprintf("template: unknown field {{.%s}}", name)
	if s := suggestExact(name, known); s != "" {
		msg += fmt.Sprintf(" (did you mean {{.%s}}?)", s)
	}
	return msg + "; the fields are " + strings.Join(known, ", ")
}

// suggestExact is suggest for case-sensitive names.
func suggestExact(s string, candidates []string) string {
	for _, c := range candidates {
		if strings.EqualFold(c, s) {
			return c
		}
	}
	lower := make([]string, len(candidates))
	for i, c := range candidates {
		lower[i] = strings.ToLower(c)
	}
	if hit := suggest(s, lower); hit != "" {
		for i, l := range lower {
			if l == hit {
				return candidates[i]
			}
		}
	}
	return ""
}

// UsedFields lists the fields ("FamilyName", "Event.Title", ...) that the
// subject and body of locale substitute, each once, in the order of Fields
// then EventFields: the values a recipient of that locale is sent.
func (c *Campaign) UsedFields(locale string) []string {
	seen := map[string]bool{}
	scan := func(s string) {
		for _, m := range fieldRefRE.FindAllString(s, -1) {
			if f := fieldRE.FindStringSubmatch(m[2 : len(m)-2]); f != nil {
				seen[f[1]] = true
			}
		}
	}
	scan(c.Subject[locale])
	if b, ok := c.Template.Body[locale]; ok {
		for _, s := range b.Intros {
			scan(s)
		}
		for _, s := range b.Outros {
			scan(s)
		}
		for _, e := range b.Dictionary {
			scan(e.Key)
			scan(e.Value)
		}
		if t := b.Table; t != nil {
			for _, s := range t.Columns {
				scan(s)
			}
			for _, r := range t.Rows {
				for _, s := range r {
					scan(s)
				}
			}
		}
		for _, a := range b.Actions {
			scan(a.Instructions)
			scan(a.ButtonText)
			scan(a.ButtonLink)
		}
		scan(b.Markdown)
		scan(b.Signature)
	}
	var out []string
	for _, f := range append(append([]string(nil), Fields...), EventFields...) {
		if seen[f] {
			out = append(out, f)
		}
	}
	return out
}
