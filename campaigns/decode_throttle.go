package campaigns

// The throttle section: per-minute, per-day and per-domain limits.

import (
	"fmt"
	"regexp"
	"strings"
)

func (d *decoder) throttle(n *node) Throttle {
	var t Throttle
	m := d.fields(n, throttleKeys)
	if m == nil {
		return t
	}
	t.PerMinute, _ = d.integer(m.get("per_minute"), 1, 1_000_000)
	t.PerDay, _ = d.integer(m.get("per_day"), 1, 100_000_000)
	if v := m.get("domains"); present(v) {
		if v.kind != mapNode {
			d.errf(v, "must be a mapping of recipient domain to messages per minute, e.g. { docomo.ne.jp: 30 }")
			return t
		}
		t.Domains = map[string]int{}
		for i, k := range v.keys {
			dom := strings.ToLower(strings.TrimSpace(k.text))
			if !domainRE.MatchString(dom) {
				d.probs = append(d.probs, Problem{File: k.file, Line: k.line, Col: k.col, Message: fmt.Sprintf("%s: %q is not a domain name", v.path, k.text)})
				continue
			}
			if n, ok := d.integer(v.vals[i], 1, 1_000_000); ok {
				t.Domains[dom] = n
			} else if !present(v.vals[i]) {
				d.errf(v.vals[i], "needs a number of messages per minute")
			}
		}
	}
	return t
}

var domainRE = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)

// bounces reads kizuna.yaml's bounces block: soft_limit, the number of
// distinct runs with a soft bounce after which an address is suppressed.
func (d *decoder) bounces(n *node) *Bounces {
	m := d.fields(n, bouncesKeys)
	if m == nil {
		return nil
	}
	b := &Bounces{}
	b.SoftLimit, _ = d.integer(m.get("soft_limit"), 1, 100)
	if b.SoftLimit == 0 {
		return nil
	}
	return b
}
