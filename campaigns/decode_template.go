package campaigns

// The subject, template (theme and per-locale bodies) and fallback sections.

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// subjects reads the subject of every audience locale.
func (d *decoder) subjects(r *node, want []string) map[string]string {
	out := map[string]string{}
	n := r.get("subject")
	if !present(n) {
		d.missing(r, "subject", "one per locale: "+strings.Join(want, ", "))
		return out
	}
	m := d.fields(n, locales)
	if m == nil {
		return out
	}
	for _, l := range locales {
		v := m.get(l)
		if !present(v) {
			if slices.Contains(want, l) {
				d.missing(m, l, "the audience includes locale "+l)
			}
			continue
		}
		s := strings.TrimSpace(d.text(v))
		if s == "" && v.kind == scalarNode && v.tag != tagBool {
			d.errf(v, "must not be empty")
		}
		if strings.ContainsAny(s, "\r\n") {
			d.errf(v, "a subject is one line")
		}
		out[l] = s
	}
	return out
}

func (d *decoder) template(r *node, want []string) Template {
	t := Template{Theme: DefaultTheme, Body: map[string]Body{}}
	n := r.get("template")
	if !present(n) {
		d.missing(r, "template", "template.body with a body per locale: "+strings.Join(want, ", "))
		return t
	}
	m := d.fields(n, templateKeys)
	if m == nil {
		return t
	}
	if v := m.get("theme"); present(v) {
		t.Theme = d.oneOf(v, DefaultTheme, "default", "flat")
	}
	b := m.get("body")
	if !present(b) {
		d.missing(m, "body", "one per locale: "+strings.Join(want, ", "))
		return t
	}
	bm := d.fields(b, locales)
	if bm == nil {
		return t
	}
	for _, l := range locales {
		v := bm.get(l)
		if !present(v) {
			if slices.Contains(want, l) {
				d.missing(bm, l, "the audience includes locale "+l)
			}
			continue
		}
		if body, ok := d.body(v); ok {
			t.Body[l] = body
		}
	}
	return t
}

func (d *decoder) body(n *node) (Body, bool) {
	var b Body
	m := d.fields(n, bodyKeys)
	if m == nil {
		return b, false
	}
	for _, it := range d.seq(m.get("intros")) {
		b.Intros = append(b.Intros, d.text(it))
	}
	for _, it := range d.seq(m.get("outros")) {
		b.Outros = append(b.Outros, d.text(it))
	}
	for _, it := range d.seq(m.get("dictionary")) {
		e := d.fields(it, entryKeys)
		if e == nil {
			if it.kind == nullNode {
				d.errf(it, "empty dictionary entry")
			}
			continue
		}
		var en Entry
		if v := e.get("key"); present(v) {
			en.Key = d.text(v)
		} else {
			d.missing(e, "key", "")
		}
		if v := e.get("value"); present(v) {
			en.Value = d.text(v)
		} else {
			d.missing(e, "value", "")
		}
		b.Dictionary = append(b.Dictionary, en)
	}
	if tm := d.fields(m.get("table"), tableKeys); tm != nil {
		tb := &Table{}
		for _, it := range d.seq(tm.get("columns")) {
			tb.Columns = append(tb.Columns, d.text(it))
		}
		if !present(tm.get("columns")) {
			d.missing(tm, "columns", "")
		}
		for _, row := range d.seq(tm.get("rows")) {
			cells := d.seq(row)
			if cells == nil {
				continue
			}
			if len(tb.Columns) > 0 && len(cells) != len(tb.Columns) {
				d.errf(row, "has %d cells for %d columns", len(cells), len(tb.Columns))
			}
			var r []string
			for _, c := range cells {
				if c.kind == nullNode {
					r = append(r, "")
					continue
				}
				r = append(r, d.text(c))
			}
			b.Table = tb
			tb.Rows = append(tb.Rows, r)
		}
		if !present(tm.get("rows")) {
			d.missing(tm, "rows", "")
		}
		b.Table = tb
	}
	for _, it := range d.seq(m.get("actions")) {
		am := d.fields(it, actionKeys)
		if am == nil {
			if it.kind == nullNode {
				d.errf(it, "empty action")
			}
			continue
		}
		var a Action
		if v := am.get("instructions"); present(v) {
			a.Instructions = d.text(v)
		}
		bt := am.get("button")
		if !present(bt) {
			d.missing(am, "button", "text and link")
		} else if bm := d.fields(bt, buttonKeys); bm != nil {
			if v := bm.get("text"); present(v) {
				a.ButtonText = d.text(v)
			} else {
				d.missing(bm, "text", "")
			}
			if v := bm.get("link"); present(v) {
				a.ButtonLink = strings.TrimSpace(d.text(v))
				if err := checkLink(a.ButtonLink); err != nil {
					d.errf(v, "%v", err)
				}
			} else {
				d.missing(bm, "link", "")
			}
			if v := bm.get("color"); present(v) {
				if s, ok := d.str(v); ok {
					if !colorRE.MatchString(s) {
						d.errf(v, "color %q must be #rgb or #rrggbb", s)
					}
					a.ButtonColor = s
				}
			}
		}
		b.Actions = append(b.Actions, a)
	}
	if v := m.get("markdown"); present(v) {
		b.Markdown = d.text(v)
		for _, k := range []string{"intros", "dictionary", "table", "actions"} {
			if present(m.get(k)) {
				d.errf(m.get(k), "markdown replaces intros, dictionary, table and actions: use one or the other")
			}
		}
	}
	if v := m.get("signature"); present(v) {
		b.Signature = d.text(v)
	}
	if len(b.Intros)+len(b.Dictionary)+len(b.Actions)+len(b.Outros) == 0 && b.Table == nil && strings.TrimSpace(b.Markdown) == "" {
		d.errf(n, "the body is empty: give intros, dictionary, table, actions, outros or markdown")
	}
	return b, true
}

// fallback reads the fallback block: per locale, a mapping of field name
// (FallbackFields) to one line of plain text.
func (d *decoder) fallback(n *node) map[string]map[string]string {
	if present(n) && n.kind != mapNode {
		d.errf(n, `must be a mapping of ja, en (each a mapping of field name to text, e.g. ja: { FamilyName: "アルムナイの皆" })`)
		return nil
	}
	m := d.fields(n, locales)
	if m == nil {
		return nil
	}
	var out map[string]map[string]string
	for i, lk := range m.keys {
		ln := m.vals[i]
		if !slices.Contains(locales, lk.text) || !present(ln) {
			continue
		}
		if ln.kind != mapNode {
			d.errf(ln, `must be a mapping of field name to text, e.g. { FamilyName: "アルムナイの皆" }`)
			continue
		}
		for j, fk := range ln.keys {
			name := fk.text
			if !slices.Contains(FallbackFields, name) {
				var msg string
				switch {
				case name == "Email":
					msg = "{{.Email}} is never empty (every recipient has an address): it takes no fallback"
				case slices.Contains(EventFields, name):
					msg = fmt.Sprintf("{{.%s}} is the same for every recipient: set it in the event block, not as a fallback", name)
				default:
					msg = fmt.Sprintf("unknown field %q", name)
					if s := suggestExact(strings.ReplaceAll(name, "_", ""), FallbackFields); s != "" {
						msg += fmt.Sprintf(" (did you mean %q?)", s)
					} else {
						msg += " (the fields are " + strings.Join(FallbackFields, ", ") + ")"
					}
				}
				d.probs = append(d.probs, Problem{File: fk.file, Line: fk.line, Col: fk.col, Message: prefix(ln.path) + msg})
				continue
			}
			v := ln.vals[j]
			if v.kind == nullNode {
				d.errf(v, `needs a text (write "" to accept an empty value)`)
				continue
			}
			s, ok := d.str(v)
			if !ok {
				continue
			}
			if strings.Contains(s, "{{") || strings.Contains(s, "}}") {
				d.errf(v, "template substitutions are not allowed here")
				continue
			}
			if strings.ContainsAny(s, "\r\n") {
				d.errf(v, "a fallback is one line")
				continue
			}
			if out == nil {
				out = map[string]map[string]string{}
			}
			if out[lk.text] == nil {
				out[lk.text] = map[string]string{}
			}
			out[lk.text][name] = s
		}
	}
	return out
}

var colorRE = regexp.MustCompile(`^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// checkLink validates a button link, which may start with a URL field.
func checkLink(s string) error {
	for _, f := range []string{"{{.Event.URL}}", "{{ .Event.URL }}"} {
		if strings.HasPrefix(s, f) {
			return nil
		}
	}
	stripped := fieldRefRE.ReplaceAllString(s, "x")
	if strings.HasPrefix(stripped, "mailto:") {
		return nil
	}
	if err := checkURL(stripped); err != nil {
		return fmt.Errorf("not an absolute http(s) or mailto: link: %q", s)
	}
	return nil
}

var fieldRefRE = regexp.MustCompile(`\{\{[^{}]*\}\}`)
