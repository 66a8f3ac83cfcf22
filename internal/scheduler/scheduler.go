package scheduler

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/runs"
)

// Default intervals of Run.
const (
	DefaultTick = 5 * time.Second
	DefaultPoll = 2 * time.Second
)

// maxMissedLogged bounds the missed occurrences logged one by one after a
// long stall; the rest are summed up in one line.
const maxMissedLogged = 10

// Loader reads the campaigns folder: the valid campaigns, and a description
// of every problem (file:line:col: message) of the invalid ones.
type Loader func(dir string) ([]*campaigns.Campaign, []string)

// Starter starts the run of one occurrence of c. created is false when the
// run already existed (another scheduler, or an earlier process, started it).
type Starter func(ctx context.Context, c *campaigns.Campaign, occ Occurrence) (run int, created bool, err error)

// Options configure a Scheduler.
type Options struct {
	Dir   string
	DB    *sqlx.DB
	Log   *slog.Logger
	Load  Loader
	Start Starter
	// Register records a campaign version in the database when it is loaded,
	// so that `campaign list` knows scheduled campaigns before their first
	// run. Optional.
	Register func(ctx context.Context, c *campaigns.Campaign) error
	// Announce tells the people who answered an event's invitation that
	// the event changed or was cancelled (runs.AnnounceEventChange); it is
	// called on the next tick after each load of an event campaign until
	// it succeeds. Optional.
	Announce func(ctx context.Context, c *campaigns.Campaign) error
	// Now is the clock; tests drive it. Default time.Now.
	Now  func() time.Time
	Tick time.Duration // how often due occurrences are checked; default DefaultTick
	Poll time.Duration // how often the folder is checked for changes; default DefaultPoll
}

// Scheduler starts the runs of due campaign occurrences. Its methods are
// safe for one goroutine at a time; Run drives them.
type Scheduler struct {
	opt     Options
	mu      sync.Mutex
	digest  string
	loaded  bool
	entries map[string]*entry
}

// entry is the scheduler's state for one loaded campaign.
type entry struct {
	c    *campaigns.Campaign
	plan *Plan
	// Occurrences in (cursor, now-max_late) that were never started were
	// missed: they are logged and skipped.
	cursor time.Time
	// handled holds the occurrences this process started, found started,
	// or decided not to send, with their times, until they leave the window.
	handled map[string]time.Time
	// firstSeen is the earliest sighting of each schedule source (this
	// process's and, once recorded, every scheduler's).
	firstSeen map[string]time.Time
	unsynced  map[string]bool // sightings not yet recorded in the database
	warned    map[string]bool
	// checked is how far schedulers had handled each source when this
	// process loaded it (schedule_sightings.checked_until).
	checked map[string]time.Time
	// startCheck is set for the campaigns of a scheduler's first load until
	// the occurrences due while no scheduler ran are recorded as skipped.
	startCheck bool
	// announced is set once the event's changes in this load were
	// announced (Options.Announce).
	announced bool
}

// New builds a scheduler; it loads nothing until Reload or Run.
func New(opt Options) (*Scheduler, error) {
	if opt.Dir == "" {
		return nil, errors.New("scheduler: no campaigns folder (set KIZUNA_CAMPAIGNS or pass --campaigns)")
	}
	if opt.DB == nil || opt.Load == nil || opt.Start == nil {
		return nil, errors.New("scheduler: database, loader and starter are required")
	}
	opt.Log = cmp.Or(opt.Log, slog.New(slog.DiscardHandler))
	if opt.Now == nil {
		opt.Now = time.Now
	}
	opt.Tick = cmp.Or(opt.Tick, DefaultTick)
	opt.Poll = cmp.Or(opt.Poll, DefaultPoll)
	return &Scheduler{opt: opt, entries: map[string]*entry{}}, nil
}

// Run loads the folder and then, until ctx ends, reloads it when its files
// change and starts the runs of due occurrences. It returns nil when ctx
// ends, and an error only when the folder cannot be read at start.
func (s *Scheduler) Run(ctx context.Context) error {
	if _, err := s.Reload(ctx); err != nil {
		return err
	}
	s.Tick(ctx)
	poll := time.NewTicker(s.opt.Poll)
	defer poll.Stop()
	tick := time.NewTicker(s.opt.Tick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-poll.C:
			changed, err := s.Reload(ctx)
			if err != nil {
				s.opt.Log.Error("campaigns folder unreadable; keeping the campaigns loaded before", "dir", s.opt.Dir, "err", err)
				continue
			}
			if changed {
				s.Tick(ctx)
			}
		case <-tick.C:
			s.Tick(ctx)
		}
	}
}

// Reload reads the folder again when its files changed since the last
// load, and reports whether it did. A campaign whose file became invalid is
// dropped (its problems are logged) until it is valid again; runs already
// started keep the version they started with.
func (s *Scheduler) Reload(ctx context.Context) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	digest, err := folderDigest(s.opt.Dir)
	if err != nil {
		return false, err
	}
	if s.loaded && digest == s.digest {
		return false, nil
	}
	first := !s.loaded
	s.digest, s.loaded = digest, true

	now := s.opt.Now().UTC()
	list, problems := s.opt.Load(s.opt.Dir)
	for _, p := range problems {
		s.opt.Log.Error("invalid campaign file; its campaign is not scheduled until fixed", "problem", p)
	}
	next := map[string]*entry{}
	for _, c := range list {
		plan, err := NewPlan(c)
		if err != nil {
			s.opt.Log.Error("campaign not scheduled", "campaign_id", c.ID, "file", c.File, "err", err)
			continue
		}
		e := s.entries[c.ID]
		if e == nil {
			e = &entry{cursor: now, handled: map[string]time.Time{}, firstSeen: map[string]time.Time{},
				unsynced: map[string]bool{}, warned: map[string]bool{}, checked: map[string]time.Time{}, startCheck: first}
		}
		e.c, e.plan, e.announced = c, plan, c.Event == nil || s.opt.Announce == nil
		for _, src := range plan.Sources() {
			if _, ok := e.firstSeen[src]; !ok {
				e.firstSeen[src] = now
				e.unsynced[src] = true
			}
		}
		next[c.ID] = e
		if s.opt.Register != nil {
			if err := s.opt.Register(ctx, c); err != nil {
				s.opt.Log.Error("cannot record campaign version", "campaign_id", c.ID, "err", err)
			}
		}
	}
	for id := range s.entries {
		if next[id] == nil {
			s.opt.Log.Info("campaign removed from the schedule", "campaign_id", id)
		}
	}
	s.entries = next
	verb := "campaigns reloaded"
	if first {
		verb = "campaigns loaded"
	}
	s.opt.Log.Info(verb, "dir", s.opt.Dir, "campaigns", len(next), "problems", len(problems))

	ids := s.sortedIDs()
	all := make([]*entry, len(ids))
	for i, id := range ids {
		all[i] = s.entries[id]
	}
	s.syncSightings(ctx, all)
	for _, e := range all {
		s.reportPastOneOffs(ctx, e, now)
	}
	return true, nil
}

// syncSightings records the unsynced sightings of entries in the database
// and adopts the earliest sighting of any scheduler. On failure they stay
// unsynced and are retried on the next tick; this process's own sightings
// hold meanwhile.
func (s *Scheduler) syncSightings(ctx context.Context, entries []*entry) {
	var in []sighting
	byID := map[string]*entry{}
	for _, e := range entries {
		byID[e.c.ID] = e
		for src := range e.unsynced {
			in = append(in, sighting{CampaignID: e.c.ID, Source: src, FirstSeen: e.firstSeen[src]})
		}
	}
	if len(in) == 0 {
		return
	}
	out, err := recordSightings(ctx, s.opt.DB, in)
	if err != nil {
		s.opt.Log.Warn("cannot record schedule sightings; will retry", "err", err)
		return
	}
	for _, got := range out {
		e := byID[got.CampaignID]
		if e == nil {
			continue
		}
		if first := got.FirstSeen.UTC(); first.Before(e.firstSeen[got.Source]) {
			e.firstSeen[got.Source] = first
		}
		if got.CheckedUntil.Valid {
			if _, ok := e.checked[got.Source]; !ok {
				e.checked[got.Source] = got.CheckedUntil.Time.UTC()
			}
		}
		delete(e.unsynced, got.Source)
	}
}

// reportPastOneOffs warns, once per process, about one-off occurrences
// (at, reminders) that were already past when first seen and have no run:
// they are not sent automatically.
func (s *Scheduler) reportPastOneOffs(ctx context.Context, e *entry, now time.Time) {
	for _, o := range e.plan.OneOffs() {
		if e.warned[o.Key] || !o.At.Before(e.firstSeen[o.Source]) || o.At.After(now) {
			continue
		}
		exists, err := runs.OccurrenceExists(ctx, s.opt.DB, e.c.ID, o.Key)
		if err != nil {
			s.opt.Log.Warn("cannot check past occurrence", "campaign_id", e.c.ID, "occurrence", o.Key, "err", err)
			continue
		}
		e.warned[o.Key] = true
		if exists {
			continue
		}
		if o.Kind == KindReminder {
			s.opt.Log.Warn("event reminder time was already past when the campaign was first seen; it is not sent",
				"campaign_id", e.c.ID, "occurrence", o.Key, "due", o.At)
			continue
		}
		s.opt.Log.Warn("schedule.at was already past when the campaign was first seen; it is not sent automatically: `kizuna campaign start` sends it",
			"campaign_id", e.c.ID, "file", e.c.File, "at", o.At)
	}
}

func (s *Scheduler) sortedIDs() []string {
	ids := make([]string, 0, len(s.entries))
	for id := range s.entries {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Tick starts the run of every occurrence that is due now: at or after its
// time, by at most the campaign's max_late, and known to a scheduler before
// it was due. Occurrences missed by more than max_late are logged and
// skipped. A failure to start leaves the occurrence due for the next tick.
func (s *Scheduler) Tick(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := s.sortedIDs()
	var unsynced []*entry
	for _, id := range ids {
		if e := s.entries[id]; len(e.unsynced) > 0 {
			unsynced = append(unsynced, e)
		}
	}
	s.syncSightings(ctx, unsynced)
	var cids, sources []string
	var until []time.Time
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		e := s.entries[id]
		s.tickEntry(ctx, e)
		if e.startCheck {
			continue // what was missed before this process is not recorded yet
		}
		for _, src := range e.plan.Sources() {
			if !e.unsynced[src] {
				cids, sources, until = append(cids, id), append(sources, src), append(until, e.cursor)
			}
		}
	}
	if err := markChecked(ctx, s.opt.DB, cids, sources, until); err != nil {
		s.opt.Log.Warn("cannot record how far the schedules were checked; will retry", "err", err)
	}
}

func (s *Scheduler) tickEntry(ctx context.Context, e *entry) {
	now := s.opt.Now().UTC()
	windowStart := now.Add(-e.plan.MaxLate)
	log := s.opt.Log.With("campaign_id", e.c.ID)

	if !e.announced {
		if err := s.opt.Announce(ctx, e.c); err != nil {
			log.Error("cannot announce the event's change; will retry", "err", err)
		} else {
			e.announced = true
		}
	}

	// Missed while no scheduler ran: once, when this scheduler starts.
	if e.startCheck && len(e.unsynced) == 0 {
		e.startCheck = !s.skipMissedAtStart(ctx, e, windowStart, log)
	}

	// Missed: due while this scheduler was not able to start it in time
	// (suspended, stalled, database down).
	if e.cursor.Before(windowStart) {
		missed, complete := e.plan.Between(e.cursor.Add(time.Nanosecond), windowStart.Add(-time.Nanosecond))
		var skipped []Occurrence
		for _, o := range missed {
			if _, ok := e.handled[o.Key]; ok || o.At.Before(e.firstSeen[o.Source]) {
				continue
			}
			skipped = append(skipped, o)
		}
		s.skip(ctx, e, skipped, SkippedLate, !complete, true, log)
	}

	cursor := now
	due, _ := e.plan.Between(windowStart, now)
	for _, o := range due {
		if _, ok := e.handled[o.Key]; ok {
			continue
		}
		if o.At.Before(e.firstSeen[o.Source]) {
			// Past when first seen: reported at load, never sent automatically.
			e.handled[o.Key] = o.At
			continue
		}
		run, created, err := s.opt.Start(ctx, e.c, o)
		if errors.Is(err, ErrExpansionIncomplete) {
			log.Warn("run started; its expansion was interrupted and is resumed by the workers", "run", run, "occurrence", o.Key, "err", err)
			e.handled[o.Key] = o.At
			continue
		}
		if err != nil {
			log.Error("cannot start run; will retry while within max_late", "occurrence", o.Key, "err", err)
			if c := o.At.Add(-time.Nanosecond); c.Before(cursor) {
				cursor = c
			}
			continue
		}
		e.handled[o.Key] = o.At
		if created {
			log.Info("run started", "run", run, "occurrence", o.Key, "kind", o.Kind)
			s.warnEmpty(ctx, e.c, run, log)
		} else {
			log.Debug("run already started elsewhere", "run", run, "occurrence", o.Key)
		}
	}
	e.cursor = cursor
	for k, at := range e.handled {
		if at.Before(windowStart) && !at.After(e.cursor) {
			delete(e.handled, k)
		}
	}
}

// warnEmpty logs one warning when some recipients of the run this
// scheduler just created get an empty value that no fallback covers. An
// automatic start does not wait for a person to pass --yes-empty: the
// schedule is the operator's decision, taken when the file was written,
// and holding a due run back would make it late or missed (max_late); the
// warning, once per run since only the creator logs it, says what to fix
// for the next one. `kizuna campaign validate` shows the same counts ahead.
func (s *Scheduler) warnEmpty(ctx context.Context, c *campaigns.Campaign, run int, log *slog.Logger) {
	es, err := runs.EmptyFieldsOfRun(ctx, s.opt.DB, c, run)
	if err != nil {
		log.Warn("cannot count empty values of the run", "run", run, "err", err)
		return
	}
	if msg := runs.DescribeUncovered(es); msg != "" {
		log.Warn("run started with empty values: "+msg+", with no fallback; give one under fallback: in the campaign or kizuna.yaml", "run", run)
	}
}

// skipMissedAtStart records as skipped, and logs once, the occurrences of
// e that fell due after the last moment any scheduler had checked them and
// are older than max_late now: due while no scheduler ran. It reports
// whether that is done (false: the database failed; retried next tick).
func (s *Scheduler) skipMissedAtStart(ctx context.Context, e *entry, windowStart time.Time, log *slog.Logger) bool {
	var lower time.Time
	for _, src := range e.plan.Sources() {
		if c, ok := e.checked[src]; ok && (lower.IsZero() || c.Before(lower)) {
			lower = c
		}
	}
	if lower.IsZero() || !lower.Before(windowStart) {
		return true
	}
	occs, complete := e.plan.Between(lower.Add(time.Nanosecond), windowStart.Add(-time.Nanosecond))
	var missed []Occurrence
	for _, o := range occs {
		c, ok := e.checked[o.Source]
		if !ok || !o.At.After(c) || o.At.Before(e.firstSeen[o.Source]) {
			continue
		}
		if _, done := e.handled[o.Key]; done {
			continue
		}
		missed = append(missed, o)
	}
	return s.skip(ctx, e, missed, SkippedNoScheduler, !complete, false, log)
}

// skip records missed occurrences of e as skipped for reason and logs each
// one this scheduler recorded (another scheduler logs the ones it recorded
// first), with the command that sends it. more says the list stopped early
// (see Plan.Between). When the database fails, the occurrences are logged
// anyway if logAnyway (nothing retries them), and skip reports false.
func (s *Scheduler) skip(ctx context.Context, e *entry, missed []Occurrence, reason string, more, logAnyway bool, log *slog.Logger) bool {
	if len(missed) == 0 && !more {
		return true
	}
	type item struct {
		key, kind string
		due       time.Time
	}
	var list []item
	ok := true
	rec, err := recordSkipped(ctx, s.opt.DB, e.c.ID, reason, missed)
	if err != nil {
		log.Warn("cannot record skipped occurrences", "err", err)
		ok = false
		if !logAnyway {
			return false
		}
		for _, o := range missed {
			list = append(list, item{o.Key, o.Kind, o.At})
		}
	}
	for _, r := range rec {
		list = append(list, item{r.Occurrence, r.Kind, r.DueAt})
	}
	hasRuns, err := runs.HasRuns(ctx, s.opt.DB, e.c.ID)
	if err != nil {
		hasRuns = true // --again is harmless when there is no run
	}
	msg := "occurrence skipped: missed by more than max_late"
	if reason == SkippedNoScheduler {
		msg = "occurrence skipped: due while no scheduler ran, and older than max_late when this one started"
	}
	for i, it := range list {
		if i == maxMissedLogged {
			break
		}
		attrs := []any{"occurrence", it.key, "due", it.due, "max_late", e.plan.MaxLate}
		if cmd := SendCommand(e.c.ID, it.kind, hasRuns); cmd != "" {
			attrs = append(attrs, "send_with", cmd)
		} else {
			attrs = append(attrs, "note", "a missed reminder is not sent late")
		}
		log.Warn(msg, attrs...)
	}
	if len(list) > maxMissedLogged || more {
		log.Warn("more occurrences skipped: "+strings.TrimPrefix(msg, "occurrence skipped: "),
			"count_at_least", max(len(list)-maxMissedLogged, 0), "list_with", "kizuna campaign status "+e.c.ID)
	}
	return ok
}

// Campaigns returns the ids of the campaigns currently scheduled.
func (s *Scheduler) Campaigns() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sortedIDs()
}
