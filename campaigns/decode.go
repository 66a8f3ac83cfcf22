package campaigns

import (
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // validation must know every IANA zone, even on a machine without zoneinfo

	"github.com/kizuna-alumni/kizuna/internal/tz"
)

// Defaults applied when a campaign and its kizuna.yaml leave a value out.
const (
	DefaultTimezone = tz.Default // the product's zone (internal/tz)
	DefaultMaxLate  = time.Hour
	DefaultTheme    = "default"
	ConsentRequired = "required"
	ConsentAny      = "any"
)

// DefaultLocales are the audience locales when none are given.
var DefaultLocales = []string{"ja", "en"}

// idRE is the campaign id pattern of SPEC.md.
var idRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Keys of each mapping, in the order the problems list them.
var (
	campaignKeys = []string{"id", "kind", "subject", "audience", "schedule", "tracking", "template", "event", "company", "from", "reply_to", "throttle", "fallback"}
	defaultsKeys = []string{"company", "from", "reply_to", "throttle", "tracking", "template", "schedule", "audience", "fallback", "bounces"}
	// folderKeys are kizuna.yaml keys a campaign file may not set: they
	// apply to every campaign of the folder.
	folderKeys   = []string{"bounces"}
	bouncesKeys  = []string{"soft_limit"}
	companyKeys  = []string{"name", "address", "contact", "url", "privacy_url", "logo"}
	audienceKeys = []string{"tags_any", "tags_none", "departments", "left_between", "joined_between", "locales", "consent"}
	scheduleKeys = []string{"at", "cron", "timezone", "max_late", "window"}
	windowKeys   = []string{"hours", "days", "skip_holidays"}
	trackingKeys = []string{"opens", "clicks"}
	templateKeys = []string{"theme", "body"}
	bodyKeys     = []string{"intros", "dictionary", "table", "actions", "outros", "markdown", "signature"}
	entryKeys    = []string{"key", "value"}
	tableKeys    = []string{"columns", "rows"}
	actionKeys   = []string{"instructions", "button"}
	buttonKeys   = []string{"text", "link", "color"}
	eventKeys    = []string{"title", "starts_at", "ends_at", "location", "url", "capacity", "rsvp_deadline", "reminders", "cancelled"}
	throttleKeys = []string{"per_minute", "per_day", "domains"}
	// Keys of later features (SPEC.md, Lifecycle campaigns and engagement):
	// refused with a clear message rather than silently ignored.
	notYet = map[string]bool{
		"trigger": true, "frequency_cap": true, "interest": true, "engaged": true,
		"not_engaged_within": true, "referral": true,
	}
	locales = []string{"ja", "en"}
)

// decoder turns a node tree into a Campaign, collecting every problem.
type decoder struct {
	probs    Problems
	defaults bool     // checking kizuna.yaml alone: nothing is required
	event    bool     // kind: event (event fields allowed in templates)
	shown    []string // keys listed in an unknown-key message, when not those accepted
}

func (d *decoder) errf(n *node, format string, args ...any) {
	line, col := n.at()
	d.probs = append(d.probs, Problem{File: n.file, Line: line, Col: col, Message: prefix(n.path) + fmt.Sprintf(format, args...)})
}

// missing reports that key is absent from the mapping parent.
func (d *decoder) missing(parent *node, key, why string) {
	if d.defaults {
		return
	}
	path := key
	if parent.path != "" {
		path = parent.path + "." + key
	}
	line, col := parent.at()
	msg := path + " is required"
	if why != "" {
		msg += " (" + why + ")"
	}
	d.probs = append(d.probs, Problem{File: parent.file, Line: line, Col: col, Message: msg})
}

// present is the node when it holds a value (not absent, null or already
// reported).
func present(n *node) bool { return n != nil && n.kind != nullNode && n.kind != badNode }

// fields checks that n is a mapping with only known keys and returns it
// (nil when n is absent or not a mapping).
func (d *decoder) fields(n *node, known []string) *node {
	if !present(n) {
		return nil
	}
	if n.kind != mapNode {
		list := known
		if d.shown != nil {
			list = d.shown
		}
		d.errf(n, "must be a mapping of %s", strings.Join(list, ", "))
		return nil
	}
	for _, k := range n.keys {
		if slices.Contains(known, k.text) {
			continue
		}
		switch {
		case notYet[k.text]:
			d.probs = append(d.probs, Problem{File: k.file, Line: k.line, Col: k.col, Message: prefix(n.path) + fmt.Sprintf("%q is not supported yet (lifecycle and engagement campaigns come in a later release)", k.text)})
		default:
			msg := fmt.Sprintf("%sunknown key %q", prefix(n.path), k.text)
			if s := suggest(k.text, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			} else {
				list := known
				if d.shown != nil {
					list = d.shown
				}
				msg += " (known: " + strings.Join(list, ", ") + ")"
			}
			d.probs = append(d.probs, Problem{File: k.file, Line: k.line, Col: k.col, Message: msg})
		}
	}
	return n
}

// decodeCampaign reads the merged tree of one campaign (or, with
// d.defaults, a kizuna.yaml alone).
func (d *decoder) decodeCampaign(root *node, file string) *Campaign {
	c := &Campaign{File: file}
	keys := campaignKeys
	if d.defaults {
		keys = defaultsKeys
		if present(root) && root.kind == mapNode {
			for _, k := range root.keys {
				if slices.Contains(campaignKeys, k.text) && !slices.Contains(defaultsKeys, k.text) {
					d.probs = append(d.probs, Problem{File: k.file, Line: k.line, Col: k.col, Message: fmt.Sprintf("%q belongs in a campaign file, not in kizuna.yaml", k.text)})
				}
			}
			keys = append(append([]string(nil), defaultsKeys...), "id", "kind", "subject", "event")
		}
	}
	if !present(root) {
		if !d.defaults {
			d.probs = append(d.probs, Problem{File: root.file, Line: 1, Col: 1, Message: "empty campaign file: id, kind, subject and template are required"})
		}
		return c
	}
	var folder *node // the kizuna.yaml bounces block a campaign inherits
	if !d.defaults && root.kind == mapNode {
		// Top-level keys inherited from kizuna.yaml were checked there,
		// against the keys kizuna.yaml may hold.
		own := *root
		own.keys, own.vals = nil, nil
		for i, k := range root.keys {
			if slices.Contains(folderKeys, k.text) {
				if k.file == file {
					d.probs = append(d.probs, Problem{File: k.file, Line: k.line, Col: k.col, Message: fmt.Sprintf("%q belongs in kizuna.yaml: it applies to every campaign of the folder", k.text)})
				} else {
					folder = root.vals[i]
				}
				continue
			}
			if k.file == file || slices.Contains(campaignKeys, k.text) {
				own.keys = append(own.keys, k)
				own.vals = append(own.vals, root.vals[i])
			}
		}
		root = &own
	}
	d.shown = keys
	if d.defaults {
		d.shown = defaultsKeys
	}
	r := d.fields(root, keys)
	d.shown = nil
	if r == nil {
		return c
	}
	if d.defaults {
		// Reported above; keep the decoder off the campaign-only keys.
		stripped := *r
		stripped.keys, stripped.vals = nil, nil
		for i, k := range r.keys {
			if slices.Contains(defaultsKeys, k.text) {
				stripped.keys = append(stripped.keys, k)
				stripped.vals = append(stripped.vals, r.vals[i])
			}
		}
		r = &stripped
	}

	if n := r.get("id"); present(n) {
		if s, ok := d.str(n); ok {
			if !idRE.MatchString(s) {
				d.errf(n, "campaign id %q must match [a-z0-9][a-z0-9-]{0,62} (lower-case letters, digits and hyphens)", s)
			}
			c.ID = s
		}
	} else {
		d.missing(r, "id", "a stable name such as 2026-12-year-end")
	}
	if n := r.get("kind"); present(n) {
		c.Kind = d.oneOf(n, "", KindNewsletter, KindEvent)
	} else {
		d.missing(r, "kind", "newsletter or event")
	}
	d.event = c.Kind == KindEvent

	c.Audience = d.audience(r.get("audience"))
	c.Schedule = d.schedule(r.get("schedule"))
	for _, key := range []string{"at", "cron"} {
		if n := r.get("schedule").get(key); present(n) {
			line, col := n.at()
			if c.pos == nil {
				c.pos = map[string]Problem{}
			}
			c.pos["schedule."+key] = Problem{File: n.file, Line: line, Col: col}
		}
	}
	c.Tracking = d.tracking(r.get("tracking"))
	c.Company = d.company(r)
	c.From, c.ReplyTo = d.addresses(r)
	c.Throttle = d.throttle(r.get("throttle"))
	c.Subject = d.subjects(r, c.Audience.Locales)
	c.Template = d.template(r, c.Audience.Locales)
	c.Fallback = d.fallback(r.get("fallback"))
	if d.defaults {
		folder = r.get("bounces")
	}
	c.Bounces = d.bounces(folder)

	ev := r.get("event")
	switch {
	case c.Kind == KindEvent && !present(ev):
		d.missing(r, "event", "an event campaign needs its event block: title, starts_at, ends_at, location")
	case c.Kind == KindNewsletter && present(ev):
		d.errf(ev, "an event block belongs to kind: event campaigns only")
	case c.Kind == "" && present(ev):
		d.eventBlock(ev) // the kind is reported already; still check the block
	case present(ev):
		c.Event = d.eventBlock(ev)
	}
	if c.Event != nil {
		d.checkEventSchedule(r, c)
	}
	return c
}

func (d *decoder) company(r *node) Company {
	var co Company
	n := r.get("company")
	if !present(n) {
		d.missing(r, "company", "name, address and contact of the sender, required in every message by the Japanese law on commercial email; set it once in kizuna.yaml")
		return co
	}
	m := d.fields(n, companyKeys)
	if m == nil {
		return co
	}
	need := func(key, why string) string {
		v := m.get(key)
		if !present(v) {
			d.missing(m, key, why)
			return ""
		}
		s := strings.TrimSpace(d.plain(v))
		if s == "" && v.kind == scalarNode && v.tag != tagBool {
			d.errf(v, "must not be empty")
		}
		return s
	}
	co.Name = need("name", "the sender's name, shown in every message")
	co.Address = need("address", "the sender's postal address, shown in every message")
	co.Contact = need("contact", "an email address or phone number for inquiries, shown in every message")
	for _, u := range []struct {
		key string
		dst *string
	}{{"url", &co.URL}, {"privacy_url", &co.PrivacyURL}, {"logo", &co.Logo}} {
		if v := m.get(u.key); present(v) {
			s := strings.TrimSpace(d.plain(v))
			if err := checkURL(s); s != "" && err != nil {
				d.errf(v, "%v", err)
			}
			*u.dst = s
		}
	}
	return co
}

func (d *decoder) addresses(r *node) (from, replyTo string) {
	if n := r.get("from"); present(n) {
		if s, ok := d.str(n); ok {
			if err := checkAddress(s); err != nil {
				d.errf(n, "%v", err)
			}
			from = strings.TrimSpace(s)
		}
	} else {
		d.missing(r, "from", `the sender, e.g. "会社名 人事部 <alumni@example.co.jp>"; set it once in kizuna.yaml`)
	}
	if n := r.get("reply_to"); present(n) {
		if s, ok := d.str(n); ok {
			if err := checkAddress(s); err != nil {
				d.errf(n, "%v", err)
			}
			replyTo = strings.TrimSpace(s)
		}
	} else if a, err := mail.ParseAddress(from); err == nil && from != "" {
		// Replies go to the sender when no other address is named.
		replyTo = a.Address
	}
	return from, replyTo
}

func (d *decoder) tracking(n *node) Tracking {
	t := Tracking{Opens: true, Clicks: true}
	m := d.fields(n, trackingKeys)
	if m == nil {
		return t
	}
	t.Opens = d.boolean(m.get("opens"), true)
	t.Clicks = d.boolean(m.get("clicks"), true)
	return t
}
