package web

// The HR dashboard (SPEC.md, Web server: /admin/…): campaigns, runs, the
// delivery funnel of each run as a chart, replies, and the Asynq queue
// monitor, behind KIZUNA_ADMIN_TOKEN. The pages are server-rendered
// html/template under the server's strict CSP (no script); only the queue
// monitor, a third-party single-page application, gets a CSP of its own.

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kizuna-alumni/kizuna/internal/inbound"
	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/scheduler"
	"github.com/kizuna-alumni/kizuna/internal/tz"
)

// adminRealm is the realm of the Basic challenge (RFC 7617): the browser
// shows it in its sign-in prompt.
const adminRealm = "Kizuna"

// Limits of the dashboard's lists.
const (
	// adminReplies is how many replies /admin/replies lists.
	adminReplies = 50
	// adminCampaignReplies is how many a campaign's page lists.
	adminCampaignReplies = 20
	// adminUnattributed is how many unattributed inbound messages
	// /admin/replies lists.
	adminUnattributed = 50
	// adminCharts is how many runs (the newest) a campaign's page draws.
	adminCharts = 12
	// adminExcerpt bounds, in characters, the text of a reply shown.
	adminExcerpt = 160
)

// adminPages holds the dashboard's templates and stylesheet, embedded.
//
//go:embed pages/admin/*.html pages/admin/admin.css
var adminPages embed.FS

var (
	adminCSS           = mustReadFS(adminPages, "pages/admin/admin.css")
	adminCampaignsTmpl = adminTemplate("campaigns.html")
	adminCampaignTmpl  = adminTemplate("campaign.html")
	adminRepliesTmpl   = adminTemplate("replies.html")
	adminMessageTmpl   = adminTemplate("message.html")
)

func mustReadFS(fs embed.FS, name string) []byte {
	b, err := fs.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return b
}

func adminTemplate(name string) *template.Template {
	return template.Must(template.New(name).Funcs(template.FuncMap{
		"printf": fmt.Sprintf,
	}).ParseFS(adminPages, "pages/admin/layout.html", "pages/admin/parts.html", "pages/admin/"+name))
}

// adminRoutes adds the dashboard's URLs when KIZUNA_ADMIN_TOKEN is set;
// without it they are not routed and /admin/… answers the 404 page.
func (s *Server) adminRoutes() {
	if s.opt.AdminToken == "" {
		return
	}
	s.mux.Handle("GET /admin/{$}", s.adminAuth(http.HandlerFunc(s.handleAdminCampaigns)))
	s.mux.Handle("GET /admin/campaigns/{id}", s.adminAuth(http.HandlerFunc(s.handleAdminCampaign)))
	s.mux.Handle("GET /admin/replies", s.adminAuth(http.HandlerFunc(s.handleAdminReplies)))
	if s.queues != nil {
		s.mux.Handle("/admin/queues/", s.adminAuth(http.HandlerFunc(s.handleQueues)))
	}
	s.mux.Handle("/admin/", s.adminAuth(http.HandlerFunc(s.handleAdminNotFound)))
	s.mux.HandleFunc("GET /static/admin.css", handleAdminCSS)
}

// adminAuth lets a request through when it carries KIZUNA_ADMIN_TOKEN,
// as a bearer token (Authorization: Bearer TOKEN, RFC 6750 §2.1) or as
// the password of HTTP Basic authentication with any user name (RFC 7617,
// what a browser's prompt sends); else it answers 401 with a Basic
// challenge (realm "Kizuna"). The comparison takes the same time whatever
// the token (both sides are hashed first, so not even the length shows).
// Neither the token nor a wrong one is ever logged.
func (s *Server) adminAuth(next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(s.opt.AdminToken))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		personal(w)
		w.Header().Set("X-Robots-Tag", "noindex, nofollow")
		got, presented := adminCredential(r)
		sum := sha256.Sum256([]byte(got))
		if presented && subtle.ConstantTimeCompare(sum[:], want[:]) == 1 {
			next.ServeHTTP(w, r)
			return
		}
		if presented {
			s.log.Warn("admin: refused a wrong token", "remote", r.RemoteAddr, "path", r.URL.Path)
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="`+adminRealm+`", charset="UTF-8"`)
		lang, q := adminLang(r)
		t := adminText[lang]
		s.adminRender(w, http.StatusUnauthorized, adminMessageTmpl, adminView{
			Lang: lang, T: t, Q: q, Title: t["auth_title"], Message: t["auth"], Bare: true})
	})
}

// adminCredential is the token a request presents: a bearer token, else a
// Basic password; presented is false when it has neither.
func adminCredential(r *http.Request) (token string, presented bool) {
	h := r.Header.Get("Authorization")
	if scheme, rest, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(rest), true
	}
	if _, pw, ok := r.BasicAuth(); ok {
		return pw, true
	}
	return "", false
}

// adminLang is the dashboard's language: ?lang= when it names one we have
// (q is then "?lang=…", which the page's links carry on), else the first
// of ja and en in the browser's Accept-Language by quality (RFC 9110
// §12.5.4), else Japanese.
func adminLang(r *http.Request) (lang, q string) {
	if l := r.URL.Query().Get("lang"); adminText[l] != nil {
		return l, "?lang=" + l
	}
	best, bestQ := "ja", 0.0
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		weight := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				continue
			}
			weight = f
		}
		base, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		if adminText[base] != nil && weight > bestQ {
			best, bestQ = base, weight
		}
	}
	return best, ""
}

// adminView is what every dashboard template is given.
type adminView struct {
	Lang     string
	T        map[string]string
	Q        string // "?lang=…" when the language was chosen in the URL, for links
	Title    string
	Nav      string // the menu entry of the page: campaigns | replies
	OtherURL string // this page in the other language
	Queues   bool   // the queue monitor is mounted
	Bare     bool   // no menu (the sign-in and error pages)
	Message  string

	Campaigns []adminCampaign
	Campaign  adminCampaign
	Runs      []adminRun // newest first
	Charts    []adminRun // the newest adminCharts runs
	ChartsCut string     // says that older runs have no chart
	Event     bool       // the campaign is an event: RSVP columns

	Replies      []adminReply
	RepliesLead  string
	Unattributed []adminInbound
}

// adminCampaign is one campaign as the dashboard shows it.
type adminCampaign struct {
	ID, URL string
	Kind    string // in words
	Event   bool
	Next    string // the next occurrence, "" when none is known
	Last    *adminRun
}

// adminRun is one run: its counts formatted for reading and its chart.
type adminRun struct {
	Label      string // "第3回" / "Run 3"
	Kind       string // in words
	Started    string // Asia/Tokyo
	State      string // in words
	StateClass string // the run state, for the badge's colour
	Counts     []adminCount
	Funnel     []adminCount // sent → opened → clicked, replied, unsubscribed, bounced
	Chart      adminChart
}

// adminCount is one number of a run, with its share where it has one.
type adminCount struct {
	Key   string // the metric (a CSS class)
	Label string
	Value string // "1,234"
	Share string // "45.6%" of its base, "" when it has none
	Title string // the share in words, for the tooltip
}

// handleAdminCampaigns serves GET /admin/: every campaign with its kind,
// its latest run and that run's funnel, and its next occurrence.
func (s *Server) handleAdminCampaigns(w http.ResponseWriter, r *http.Request) {
	v := s.adminBase(r, "campaigns", "/admin/")
	v.Title = v.T["campaigns_title"]
	list, err := runs.Campaigns(r.Context(), s.opt.DB)
	if err != nil {
		s.adminError(w, r, err)
		return
	}
	now := s.opt.Now()
	for _, c := range list {
		ac := adminCampaign{ID: c.ID, URL: "/admin/campaigns/" + c.ID + v.Q, Kind: adminWord(v.T, "kind_", c.Kind), Event: c.Kind == "event"}
		ac.Next = s.adminNext(r, c, now)
		if c.LastRun.Valid {
			st, err := runs.Status(r.Context(), s.opt.DB, c.ID)
			if err != nil {
				s.adminError(w, r, err)
				return
			}
			if last, ok := adminLatest(st); ok {
				run := adminRunOf(v.T, last, ac.Event)
				ac.Last = &run
			}
		}
		v.Campaigns = append(v.Campaigns, ac)
	}
	s.adminRender(w, http.StatusOK, adminCampaignsTmpl, v)
}

// adminLatest is the run the campaigns page shows: the latest that is not
// a notice run (the one-person mails RSVPs cause, which say nothing of how
// the campaign went), else the latest.
func adminLatest(st []runs.RunStatus) (runs.RunStatus, bool) {
	for i := len(st) - 1; i >= 0; i-- {
		if st[i].Kind != runs.KindNotice {
			return st[i], true
		}
	}
	if len(st) == 0 {
		return runs.RunStatus{}, false
	}
	return st[len(st)-1], true
}

// adminNext is the next occurrence of campaign c's current version, in
// Asia/Tokyo, or "" when it has none (manual-only, past, cancelled) or its
// version cannot be read (logged).
func (s *Server) adminNext(r *http.Request, c runs.CampaignSummary, now time.Time) string {
	if !c.VersionID.Valid {
		return ""
	}
	camp, err := runs.LoadVersion(r.Context(), s.opt.DB, c.VersionID.Int64)
	if err != nil {
		s.log.Warn("admin: cannot read a campaign version", "campaign_id", c.ID, "version_id", c.VersionID.Int64, "err", err)
		return ""
	}
	plan, err := scheduler.NewPlan(camp)
	if err != nil {
		return ""
	}
	o, ok := plan.Next(now)
	if !ok {
		return ""
	}
	return adminTime(o.At)
}

// handleAdminCampaign serves GET /admin/campaigns/{id}: every run with its
// counts, a funnel chart of the newest runs, and the latest replies.
func (s *Server) handleAdminCampaign(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	v := s.adminBase(r, "campaigns", "/admin/campaigns/"+id)
	ctx := r.Context()
	var summary *runs.CampaignSummary
	list, err := runs.Campaigns(ctx, s.opt.DB)
	if err != nil {
		s.adminError(w, r, err)
		return
	}
	for i := range list {
		if list[i].ID == id {
			summary = &list[i]
		}
	}
	if summary == nil {
		v.Title, v.Message = v.T["not_found_title"], v.T["not_found"]
		s.adminRender(w, http.StatusNotFound, adminMessageTmpl, v)
		return
	}
	v.Event = summary.Kind == "event"
	v.Campaign = adminCampaign{ID: id, Kind: adminWord(v.T, "kind_", summary.Kind), Event: v.Event,
		Next: s.adminNext(r, *summary, s.opt.Now())}
	v.Title = fmt.Sprintf(v.T["campaign_title"], id)
	st, err := runs.Status(ctx, s.opt.DB, id)
	if err != nil {
		s.adminError(w, r, err)
		return
	}
	for i := len(st) - 1; i >= 0; i-- {
		v.Runs = append(v.Runs, adminRunOf(v.T, st[i], v.Event))
	}
	v.Charts = v.Runs
	if len(v.Charts) > adminCharts {
		v.Charts = v.Charts[:adminCharts]
		v.ChartsCut = fmt.Sprintf(v.T["charts_more"], adminCharts)
	}
	rep, err := runs.Replies(ctx, s.opt.DB, id, adminCampaignReplies)
	if err != nil {
		s.adminError(w, r, err)
		return
	}
	v.Replies = adminRepliesOf(v.T, v.Q, rep)
	s.adminRender(w, http.StatusOK, adminCampaignTmpl, v)
}

// adminReply is one reply as the dashboard lists it.
type adminReply struct {
	At          string // Asia/Tokyo
	Name, Email string // Email "" for a forgotten person
	Campaign    string
	CampaignURL string
	Run         string
	Subject     string
	Excerpt     string
}

// adminInbound is one unattributed inbound message.
type adminInbound struct {
	At, From, Subject, Class, Source string
}

// handleAdminReplies serves GET /admin/replies: the latest human replies
// of every campaign, and the inbound messages attributed to no delivery.
func (s *Server) handleAdminReplies(w http.ResponseWriter, r *http.Request) {
	v := s.adminBase(r, "replies", "/admin/replies")
	v.Title = v.T["replies_title"]
	v.RepliesLead = fmt.Sprintf(v.T["replies_lead"], adminReplies)
	rep, err := runs.Replies(r.Context(), s.opt.DB, "", adminReplies)
	if err != nil {
		s.adminError(w, r, err)
		return
	}
	v.Replies = adminRepliesOf(v.T, v.Q, rep)
	msgs, err := inbound.List(r.Context(), s.opt.DB, true, adminUnattributed)
	if err != nil {
		s.adminError(w, r, err)
		return
	}
	for _, m := range msgs {
		from := m.From
		if from == "" {
			from = m.EnvelopeFrom
		}
		v.Unattributed = append(v.Unattributed, adminInbound{At: adminTime(m.ReceivedAt), From: from,
			Subject: m.Subject, Class: adminWord(v.T, "class_", m.Class), Source: string(m.Source)})
	}
	s.adminRender(w, http.StatusOK, adminRepliesTmpl, v)
}

// handleAdminNotFound answers 404 inside /admin/ (after authentication).
func (s *Server) handleAdminNotFound(w http.ResponseWriter, r *http.Request) {
	v := s.adminBase(r, "", "/admin/")
	v.Title, v.Message = v.T["not_found_title"], v.T["not_found_title"]
	s.adminRender(w, http.StatusNotFound, adminMessageTmpl, v)
}

// handleAdminCSS serves GET /static/admin.css, the dashboard's one
// stylesheet (it holds nothing private).
func handleAdminCSS(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write(adminCSS)
}

// adminBase fills what every dashboard page shows.
func (s *Server) adminBase(r *http.Request, nav, path string) adminView {
	lang, q := adminLang(r)
	other := "en"
	if lang == "en" {
		other = "ja"
	}
	return adminView{Lang: lang, T: adminText[lang], Q: q, Nav: nav, OtherURL: path + "?lang=" + other, Queues: s.queues != nil}
}

// adminError logs a failure to read the database and answers 500.
func (s *Server) adminError(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("admin: cannot read the database", "path", r.URL.Path, "err", err)
	v := s.adminBase(r, "", "/admin/")
	v.Title, v.Message = v.T["error_title"], v.T["error"]
	s.adminRender(w, http.StatusInternalServerError, adminMessageTmpl, v)
}

// adminRender writes a dashboard page (never cached: it holds people's
// names and replies).
func (s *Server) adminRender(w http.ResponseWriter, status int, t *template.Template, v adminView) {
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "admin", v); err != nil {
		s.log.Error("admin: cannot render a page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	personal(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// adminWord is the word for value under prefix ("kind_", "state_"…), or
// value itself when there is none.
func adminWord(t map[string]string, prefix, value string) string {
	if w, ok := t[prefix+value]; ok {
		return w
	}
	return value
}

// adminTime is t in Asia/Tokyo, "2026-12-01 10:00 JST".
func adminTime(t time.Time) string { return t.In(tz.Tokyo()).Format("2006-01-02 15:04 MST") }

// adminRunOf turns one run's status into what the pages show. Shares are
// of what was sent (what people did with the mail), except sent and failed
// themselves, which are shares of the run's recipients.
func adminRunOf(t map[string]string, st runs.RunStatus, event bool) adminRun {
	run := adminRun{
		Label: fmt.Sprintf(t["run_n"], st.Run), Kind: adminWord(t, "runkind_", st.Kind),
		Started: adminTime(st.StartedAt), State: adminWord(t, "state_", st.State), StateClass: st.State,
	}
	ofSent := func(key string, n int64) adminCount { return adminCountOf(t, key, n, st.Sent, "of_sent") }
	ofTotal := func(key string, n int64) adminCount { return adminCountOf(t, key, n, st.Total, "of_total") }
	plain := func(key string, n int64) adminCount { return adminCountOf(t, key, n, 0, "") }
	did := []adminCount{ofSent("opened", st.Opened), ofSent("clicked", st.Clicked), ofSent("replied", st.Replied),
		ofSent("unsubscribed", st.Unsubscribed), ofSent("bounced", st.Bounced)}
	run.Funnel = append([]adminCount{plain("sent", st.Sent)}, did...)
	run.Counts = append([]adminCount{plain("total", st.Total), ofTotal("sent", st.Sent), plain("pending", st.Pending),
		ofTotal("failed", st.Failed), plain("suppressed", st.Suppressed)}, did...)
	bars := append([]adminCount{ofTotal("sent", st.Sent)}, did...)
	bars = append(bars, ofTotal("failed", st.Failed))
	if event {
		rsvp := []adminCount{ofSent("yes", st.RSVPYes), ofSent("maybe", st.RSVPMaybe), ofSent("no", st.RSVPNo), ofSent("waitlisted", st.Waitlisted)}
		run.Counts = append(run.Counts, rsvp...)
		bars = append(bars, rsvp...)
	}
	run.Chart = adminChartOf(t, st, bars)
	return run
}

// adminCountOf is metric key's count n with its share of base, described
// by the words of of ("of_sent", "of_total"); no share when base is 0.
func adminCountOf(t map[string]string, key string, n, base int64, of string) adminCount {
	c := adminCount{Key: key, Label: t["m_"+key], Value: adminNumber(n)}
	if base > 0 {
		c.Share = strconv.FormatFloat(float64(n)*100/float64(base), 'f', 1, 64) + "%"
		c.Title = fmt.Sprintf(t[of], c.Share)
	}
	return c
}

// adminNumber writes n with thousands separators, "12,345".
func adminNumber(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// adminRepliesOf turns replies into rows; q carries the page's language to
// the campaign links.
func adminRepliesOf(t map[string]string, q string, rep []runs.Reply) []adminReply {
	out := make([]adminReply, 0, len(rep))
	for _, r := range rep {
		name := strings.TrimSpace(r.FamilyName + " " + r.GivenName)
		if r.Email == "" && name == "" {
			name = t["forgotten"]
		}
		out = append(out, adminReply{
			At: adminTime(r.At), Name: name, Email: r.Email,
			Campaign: r.CampaignID, CampaignURL: "/admin/campaigns/" + r.CampaignID + q,
			Run:     fmt.Sprintf(t["run_n"], r.Run),
			Subject: r.Subject, Excerpt: adminCut(r.Excerpt, adminExcerpt),
		})
	}
	return out
}

// adminCut keeps the first n characters of s on one line, with "…" when
// it cut.
func adminCut(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:n])) + "…"
}
