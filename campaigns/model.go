// Package campaigns loads and validates campaign files: a folder of *.yaml
// campaigns plus an optional kizuna.yaml of defaults (SPEC.md, Campaign
// files). It reports every problem with file, line and column, and compiles
// a campaign's audience to parameterised SQL.
package campaigns

import "time"

// Kinds of campaign.
const (
	KindNewsletter = "newsletter"
	KindEvent      = "event"
)

// Campaign is one validated campaign, with the kizuna.yaml defaults merged in.
type Campaign struct {
	ID       string
	Kind     string // KindNewsletter or KindEvent
	File     string // path of the source file
	Company  Company
	From     string // "Name <addr>" as written
	ReplyTo  string
	Subject  map[string]string // locale → subject template
	Audience Audience
	Schedule Schedule
	Tracking Tracking
	Template Template
	Event    *Event // set for KindEvent only
	Throttle Throttle
	// Fallback is, per locale and field name (FamilyName, as written in
	// {{.FamilyName}}), the text a recipient gets where their value of that
	// field is empty (SPEC.md, Campaign files: "様 アルムナイ通信" must not
	// happen). A field with an entry, even "", is covered. Nil when none is
	// given; omitted from the JSON then, so that a campaign without
	// fallbacks keeps its digest.
	Fallback map[string]map[string]string `json:",omitempty"`
	// Bounces is kizuna.yaml's bounces block (nil when it has none, so
	// that a campaign without one keeps its digest); SoftBounceLimit reads
	// it with its default.
	Bounces *Bounces `json:",omitempty"`
	// Digest identifies this exact content (SHA-256 of the canonical JSON of
	// the merged campaign): a new digest is a new campaign version.
	Digest string
	// pos remembers where some values were written (by path, such as
	// "schedule.at"), for notes about a valid campaign (At). Unexported, so
	// it is not content: the digest ignores it.
	pos map[string]Problem
}

// At returns a Problem carrying message at the place the value at path
// ("schedule.at", "schedule.cron") was written — in the campaign file, or
// in the kizuna.yaml it inherited the value from. Where the position is
// unknown (the campaign was not loaded from a file) the problem names the
// campaign's file with line and column 0.
func (c *Campaign) At(path, message string) Problem {
	if p, ok := c.pos[path]; ok {
		p.Message = message
		return p
	}
	return Problem{File: c.File, Message: message}
}

// Company is the sender identity the Japanese law on commercial email
// requires in every message.
type Company struct {
	Name       string
	Address    string
	Contact    string
	URL        string
	PrivacyURL string
	Logo       string
}

// Audience is the recipient filter; all conditions are AND-ed. Unsubscribed,
// bounced and forgotten people are always excluded.
type Audience struct {
	TagsAny       []string
	TagsNone      []string
	Departments   []string
	LeftBetween   *DateRange
	JoinedBetween *DateRange
	Locales       []string // default [ja en]
	Consent       string   // "required" (default) or "any"
}

// DateRange is an inclusive range of calendar dates.
type DateRange struct {
	From, To time.Time // dates at 00:00 UTC
}

// Schedule says when a campaign is sent.
type Schedule struct {
	At       *time.Time // one-off; nil for recurring or manual-only campaigns
	Cron     string     // 5-field cron spec, or ""
	Timezone string     // IANA name for Cron; default Asia/Tokyo
	MaxLate  time.Duration
	Window   *Window
}

// Window restricts sending to certain local times of each recipient.
type Window struct {
	StartMinute  int  // minutes after local midnight, from "09:00"
	EndMinute    int  // may be less than StartMinute: the window crosses midnight
	WeekdaysOnly bool // days: weekdays
	SkipHolidays bool // skip_holidays: jp (public holidays and 12/29–1/3)
}

// Tracking switches the open pixel and click redirects.
type Tracking struct {
	Opens  bool
	Clicks bool
}

// Template is the Hermes theme and the per-locale body.
type Template struct {
	Theme string          // "default" or "flat"
	Body  map[string]Body // locale → body
}

// Body holds the Hermes body fields of one locale. Every string may hold
// plain {{.Field}} substitutions.
type Body struct {
	Intros     []string
	Dictionary []Entry
	Table      *Table
	Actions    []Action
	Outros     []string
	Markdown   string // replaces intros, dictionary, table and actions when set
	Signature  string
}

// Entry is one key/value line of a Hermes dictionary.
type Entry struct {
	Key, Value string
}

// Table is a Hermes table: rows of column → value.
type Table struct {
	Columns []string
	Rows    [][]string
}

// Action is a call to action: instructions and a button.
type Action struct {
	Instructions string
	ButtonText   string
	ButtonLink   string
	ButtonColor  string
}

// Event is the event block of an event campaign.
type Event struct {
	Title        string
	StartsAt     time.Time
	EndsAt       time.Time
	Location     string
	URL          string
	Capacity     int // 0: unlimited
	RSVPDeadline *time.Time
	Reminders    []time.Duration // before StartsAt, to those who answered yes
	// Cancelled is `cancelled: true`: the event will not take place.
	// Everyone who answered yes or maybe, and the waiting list, is told
	// (iTIP METHOD:CANCEL, RFC 5546 §3.2.5); nothing else is sent.
	Cancelled bool
	// Sequence grows each time the event's details change (iCalendar SEQUENCE).
	Sequence int
}

// DefaultSoftBounceLimit is bounces.soft_limit when kizuna.yaml leaves it
// out.
const DefaultSoftBounceLimit = 3

// Bounces says what returned messages do (kizuna.yaml `bounces:`).
type Bounces struct {
	// SoftLimit is the number of distinct runs in which a person's
	// messages bounced softly (mailbox full, blocked, expired…) after
	// which their address is suppressed as bounced; 1 to 100.
	SoftLimit int `json:",omitempty"`
}

// SoftBounceLimit is the campaign's bounces.soft_limit, or
// DefaultSoftBounceLimit.
func (c *Campaign) SoftBounceLimit() int {
	if c == nil || c.Bounces == nil || c.Bounces.SoftLimit < 1 {
		return DefaultSoftBounceLimit
	}
	return c.Bounces.SoftLimit
}

// Throttle holds the sending limits (per run per minute, per relay per
// day, per recipient domain per minute).
type Throttle struct {
	PerMinute int
	PerDay    int
	Domains   map[string]int
}

// Fields lists the substitutions a subject or body may use
// (SPEC.md, Campaign files).
var Fields = []string{
	"FamilyName", "GivenName", "FullName", "Department", "JoinedOn", "LeftOn",
	"YearsSinceLeft", "Email",
}

// FallbackFields are the fields a recipient's value of which may be empty
// (the roster leaves them optional), so the fields a fallback may name.
// Email is never empty and event fields are the same for every recipient.
var FallbackFields = []string{
	"FamilyName", "GivenName", "FullName", "Department", "JoinedOn", "LeftOn",
	"YearsSinceLeft",
}

// FallbackFor returns the fallback of field (a name of Fields, such as
// "FamilyName") in locale ("ja", "en"), and whether one is given.
func (c *Campaign) FallbackFor(locale, field string) (string, bool) {
	v, ok := c.Fallback[locale][field]
	return v, ok
}

// EventFields are the extra substitutions of event campaigns.
var EventFields = []string{
	"Event.Title", "Event.Start", "Event.End", "Event.Location", "Event.URL",
}
