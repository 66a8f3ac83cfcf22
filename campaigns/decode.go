package campaigns

import (
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // validation must know every IANA zone, even on a machine without zoneinfo

	"github.com/robfig/cron/v3"

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

// cronParser accepts exactly the 5-field specs of SPEC.md, the same parser
// the scheduler uses: descriptors such as @daily or @every are refused.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// Keys of each mapping, in the order the problems list them.
var (
	campaignKeys = []string{"id", "kind", "subject", "audience", "schedule", "tracking", "template", "event", "company", "from", "reply_to", "throttle", "fallback"}
	defaultsKeys = []string{"company", "from", "reply_to", "throttle", "tracking", "template", "schedule", "audience", "fallback"}
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
	eventKeys    = []string{"title", "starts_at", "ends_at", "location", "url", "capacity", "rsvp_deadline", "reminders"}
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
	if !d.defaults && root.kind == mapNode {
		// Top-level keys inherited from kizuna.yaml were checked there,
		// against the keys kizuna.yaml may hold.
		own := *root
		own.keys, own.vals = nil, nil
		for i, k := range root.keys {
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

func (d *decoder) schedule(n *node) Schedule {
	s := Schedule{Timezone: DefaultTimezone, MaxLate: DefaultMaxLate}
	m := d.fields(n, scheduleKeys)
	if m == nil {
		return s
	}
	at, cr := m.get("at"), m.get("cron")
	if present(at) && present(cr) {
		d.errf(cr, "give either at (one-off) or cron (recurring), not both")
	}
	if present(at) {
		s.At = d.instant(at)
	}
	if v := m.get("timezone"); present(v) {
		if tz, ok := d.str(v); ok {
			if _, err := time.LoadLocation(tz); err != nil || tz == "" || tz == "Local" {
				d.errf(v, "unknown time zone %q (use an IANA name such as Asia/Tokyo)", tz)
			} else {
				s.Timezone = tz
			}
		}
	}
	if present(cr) {
		if spec, ok := d.str(cr); ok {
			spec = strings.Join(strings.Fields(spec), " ")
			switch {
			case strings.HasPrefix(spec, "@"):
				d.errf(cr, "cron %q: descriptors are not accepted; write 5 fields (minute hour day month weekday), e.g. \"10 10 1 * *\"", spec)
			case strings.Contains(spec, "TZ="):
				d.errf(cr, "cron %q: set the time zone with schedule.timezone, not in the spec", spec)
			case len(strings.Fields(spec)) != 5:
				d.errf(cr, "cron %q has %d fields; write exactly 5 (minute hour day month weekday), e.g. \"10 10 1 * *\"", spec, len(strings.Fields(spec)))
			default:
				if _, err := cronParser.Parse(spec); err != nil {
					d.errf(cr, "cron %q: %v", spec, err)
				} else {
					s.Cron = spec
				}
			}
		}
	}
	if v := m.get("max_late"); present(v) {
		if dur, ok := d.duration(v); ok {
			s.MaxLate = dur
		}
	}
	s.Window = d.window(m.get("window"))
	return s
}

func (d *decoder) window(n *node) *Window {
	m := d.fields(n, windowKeys)
	if m == nil {
		return nil
	}
	// Without hours the window is the whole day (days or holidays only).
	w := &Window{StartMinute: 0, EndMinute: 24 * 60}
	if v := m.get("hours"); present(v) {
		if s, ok := d.str(v); ok {
			from, to, found := strings.Cut(strings.ReplaceAll(s, " ", ""), "-")
			a, okA := parseClock(from)
			b, okB := parseClock(to)
			switch {
			case !found || !okA || !okB || a == 24*60:
				d.errf(v, "bad hours %q (want \"HH:MM-HH:MM\", e.g. \"09:00-18:00\")", s)
			case a == b || (a == 0 && b == 24*60):
				d.errf(v, "hours %q: the window must start and end at different times (leave hours out to allow the whole day)", s)
			default:
				w.StartMinute, w.EndMinute = a, b
			}
		}
	}
	if v := m.get("days"); present(v) {
		w.WeekdaysOnly = d.oneOf(v, "every", "every", "weekdays") == "weekdays"
	}
	if v := m.get("skip_holidays"); present(v) {
		if v.kind == scalarNode && v.tag == tagBool && v.text == "false" {
			w.SkipHolidays = false
		} else {
			w.SkipHolidays = d.oneOf(v, "", "jp") == "jp"
		}
	}
	return w
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

func (d *decoder) eventBlock(n *node) *Event {
	m := d.fields(n, eventKeys)
	if m == nil {
		return nil
	}
	ev := &Event{}
	if v := m.get("title"); present(v) {
		ev.Title = strings.TrimSpace(d.plain(v))
		if ev.Title == "" && v.kind == scalarNode {
			d.errf(v, "must not be empty")
		}
	} else {
		d.missing(m, "title", "")
	}
	var okStart, okEnd bool
	if v := m.get("starts_at"); present(v) {
		if t := d.instant(v); t != nil {
			ev.StartsAt, okStart = *t, true
		}
	} else {
		d.missing(m, "starts_at", "e.g. 2026-12-18T19:00:00+09:00")
	}
	if v := m.get("ends_at"); present(v) {
		if t := d.instant(v); t != nil {
			ev.EndsAt, okEnd = *t, true
		}
	} else {
		d.missing(m, "ends_at", "e.g. 2026-12-18T21:00:00+09:00")
	}
	if okStart && okEnd && !ev.StartsAt.Before(ev.EndsAt) {
		d.errf(m.get("ends_at"), "the event must end after it starts (starts_at %s)", ev.StartsAt.Format(time.RFC3339))
	}
	if v := m.get("location"); present(v) {
		ev.Location = strings.TrimSpace(d.plain(v))
	}
	if v := m.get("url"); present(v) {
		ev.URL = strings.TrimSpace(d.plain(v))
		if err := checkURL(ev.URL); err != nil {
			d.errf(v, "%v", err)
		}
	}
	if ev.Location == "" && ev.URL == "" && !present(m.get("location")) && !present(m.get("url")) {
		d.missing(m, "location", "where it takes place; or an url for an online event")
	}
	if v := m.get("capacity"); present(v) {
		ev.Capacity, _ = d.integer(v, 0, 1_000_000)
	}
	if v := m.get("rsvp_deadline"); present(v) {
		if t := d.instant(v); t != nil {
			ev.RSVPDeadline = t
			if okStart && t.After(ev.StartsAt) {
				d.errf(v, "the RSVP deadline is after the event starts (%s)", ev.StartsAt.Format(time.RFC3339))
			}
		}
	}
	for _, it := range d.seq(m.get("reminders")) {
		if dur, ok := d.duration(it); ok {
			if slices.Contains(ev.Reminders, dur) {
				d.errf(it, "reminder %s is listed twice", FormatDuration(dur))
				continue
			}
			ev.Reminders = append(ev.Reminders, dur)
		}
	}
	return ev
}

// checkEventSchedule relates the invitation's schedule to the event.
func (d *decoder) checkEventSchedule(r *node, c *Campaign) {
	sch := r.get("schedule")
	if c.Schedule.Cron != "" {
		d.errf(sch.get("cron"), "an event invitation is sent once: use schedule.at (or no schedule and `kizuna campaign start`), not cron")
	}
	at := c.Schedule.At
	if at == nil || c.Event.StartsAt.IsZero() {
		return
	}
	atNode := sch.get("at")
	if !at.Before(c.Event.StartsAt) {
		d.errf(atNode, "the invitation would be sent after the event starts (%s)", c.Event.StartsAt.Format(time.RFC3339))
		return
	}
	if dl := c.Event.RSVPDeadline; dl != nil && !at.Before(*dl) {
		d.errf(atNode, "the invitation would be sent after the RSVP deadline (%s)", dl.Format(time.RFC3339))
	}
	for i, rem := range c.Event.Reminders {
		if !c.Event.StartsAt.Add(-rem).After(*at) {
			n := r.get("event").get("reminders")
			if present(n) && n.kind == seqNode && i < len(n.items) {
				n = n.items[i]
			}
			d.errf(n, "reminder %s before the event falls before the invitation is sent (schedule.at %s)", FormatDuration(rem), at.Format(time.RFC3339))
		}
	}
}
