package campaigns

// The scalars and lists every section is made of: strings, booleans,
// integers, times, durations and enumerations, each checked where it is.

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// str reads a text value; numbers are taken as written.
func (d *decoder) str(n *node) (string, bool) {
	if !present(n) {
		return "", false
	}
	if n.kind != scalarNode || n.tag == tagBool {
		d.errf(n, "must be text")
		return "", false
	}
	return n.text, true
}

// text reads a text value that may hold {{.Field}} substitutions.
func (d *decoder) text(n *node) string {
	s, ok := d.str(n)
	if ok {
		for _, msg := range checkTemplate(s, d.event) {
			d.errf(n, "%s", msg)
		}
	}
	return s
}

// plain reads a text value that must not hold substitutions.
func (d *decoder) plain(n *node) string {
	s, ok := d.str(n)
	if ok && (strings.Contains(s, "{{") || strings.Contains(s, "}}")) {
		d.errf(n, "template substitutions are not allowed here")
	}
	return s
}

func (d *decoder) boolean(n *node, def bool) bool {
	if !present(n) {
		return def
	}
	if n.kind != scalarNode || n.tag != tagBool {
		d.errf(n, "must be true or false")
		return def
	}
	return n.text == "true"
}

func (d *decoder) integer(n *node, lo, hi int) (int, bool) {
	if !present(n) {
		return 0, false
	}
	if n.kind != scalarNode || n.tag != tagInt {
		d.errf(n, "must be a whole number")
		return 0, false
	}
	v, err := strconv.ParseInt(strings.ReplaceAll(n.text, "_", ""), 0, 64)
	if err != nil || v < int64(lo) || v > int64(hi) {
		d.errf(n, "must be a whole number from %d to %d", lo, hi)
		return 0, false
	}
	return int(v), true
}

func (d *decoder) seq(n *node) []*node {
	if !present(n) {
		return nil
	}
	if n.kind != seqNode {
		d.errf(n, "must be a list")
		return nil
	}
	return n.items
}

// strList reads a list of non-empty texts without repeats.
func (d *decoder) strList(n *node) []string {
	var out []string
	for _, it := range d.seq(n) {
		s, ok := d.str(it)
		if !ok {
			if it.kind == nullNode {
				d.errf(it, "empty list item")
			}
			continue
		}
		s = strings.TrimSpace(s)
		switch {
		case s == "":
			d.errf(it, "empty list item")
		case slices.Contains(out, s):
			d.errf(it, "%q is listed twice", s)
		default:
			out = append(out, s)
		}
	}
	return out
}

func (d *decoder) instant(n *node) *time.Time {
	s, ok := d.str(n)
	if !ok {
		return nil
	}
	t, err := parseInstant(strings.TrimSpace(s))
	if err != nil {
		d.errf(n, "%v", err)
		return nil
	}
	return &t
}

func (d *decoder) duration(n *node) (time.Duration, bool) {
	s, ok := d.str(n)
	if !ok {
		return 0, false
	}
	v, err := ParseDuration(s)
	if err != nil {
		d.errf(n, "%v", err)
		return 0, false
	}
	return v, true
}

// oneOf reads a text value from a fixed set.
func (d *decoder) oneOf(n *node, def string, allowed ...string) string {
	s, ok := d.str(n)
	if !ok {
		return def
	}
	if !slices.Contains(allowed, s) {
		msg := fmt.Sprintf("%q is not one of %s", s, strings.Join(allowed, ", "))
		if hint := suggest(s, allowed); hint != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", hint)
		}
		d.errf(n, "%s", msg)
		return def
	}
	return s
}
