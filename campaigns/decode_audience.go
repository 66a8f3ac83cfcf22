package campaigns

// The audience section: who a campaign goes to.

import (
	"slices"
	"strings"
	"time"
)

func (d *decoder) audience(n *node) Audience {
	a := Audience{Locales: append([]string(nil), DefaultLocales...), Consent: ConsentRequired}
	m := d.fields(n, audienceKeys)
	if m == nil {
		return a
	}
	a.TagsAny = d.strList(m.get("tags_any"))
	a.TagsNone = d.strList(m.get("tags_none"))
	a.Departments = d.strList(m.get("departments"))
	a.LeftBetween = d.dateRange(m.get("left_between"))
	a.JoinedBetween = d.dateRange(m.get("joined_between"))
	if v := m.get("locales"); present(v) {
		var ls []string
		for _, it := range d.seq(v) {
			l := d.oneOf(it, "", locales...)
			switch {
			case l == "":
			case slices.Contains(ls, l):
				d.errf(it, "%q is listed twice", l)
			default:
				ls = append(ls, l)
			}
		}
		if len(ls) > 0 {
			a.Locales = ls
		} else if v.kind == seqNode && len(v.items) == 0 {
			d.errf(v, "must list at least one locale (ja, en)")
		}
	}
	if v := m.get("consent"); present(v) {
		a.Consent = d.oneOf(v, ConsentRequired, ConsentRequired, ConsentAny)
	}
	for _, k := range []string{"tags_any", "tags_none", "departments"} {
		if v := m.get(k); present(v) && v.kind == seqNode && len(v.items) == 0 {
			d.errf(v, "is an empty list: remove it, or list at least one value")
		}
	}
	return a
}

func (d *decoder) dateRange(n *node) *DateRange {
	items := d.seq(n)
	if items == nil {
		if present(n) && n.kind == seqNode {
			d.errf(n, "must be [from, to], two dates YYYY-MM-DD")
		}
		return nil
	}
	if len(items) != 2 {
		d.errf(n, "must be [from, to], two dates YYYY-MM-DD (found %d values)", len(items))
		return nil
	}
	var r DateRange
	ok := true
	for i, dst := range []*time.Time{&r.From, &r.To} {
		s, good := d.str(items[i])
		if !good {
			if items[i].kind == nullNode {
				d.errf(items[i], "missing date")
			}
			ok = false
			continue
		}
		t, err := parseDate(strings.TrimSpace(s))
		if err != nil {
			d.errf(items[i], "%v", err)
			ok = false
			continue
		}
		*dst = t
	}
	if !ok {
		return nil
	}
	if r.From.After(r.To) {
		d.errf(n, "from %s is after to %s", r.From.Format(time.DateOnly), r.To.Format(time.DateOnly))
		return nil
	}
	return &r
}
