package web

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/store"
	"github.com/kizuna-alumni/kizuna/internal/token"
	"github.com/kizuna-alumni/kizuna/internal/tz"
)

var (
	rsvpPageTmpl    = pageTemplate("rsvp.html")
	rsvpMessageTmpl = pageTemplate("rsvp_message.html")
)

// rsvpAnswers are the answers in the order the form offers them, with
// the key of their label and of the state they lead to.
var rsvpAnswers = []struct{ value, label, state, done string }{
	{runs.AnswerYes, "answer_yes", "state_yes", "done_yes"},
	{runs.AnswerMaybe, "answer_maybe", "state_maybe", "done_maybe"},
	{runs.AnswerNo, "answer_no", "state_no", "done_no"},
}

// rsvpValid reports whether a is an answer the form offers.
func rsvpValid(a string) bool {
	return a == runs.AnswerYes || a == runs.AnswerNo || a == runs.AnswerMaybe
}

// rsvpVia is how the RSVP page's answers arrive (runs.Answer.Via).
const rsvpVia = "web"

// rsvpView is what the RSVP templates are given (the layout reads Lang,
// Title, Company and T).
type rsvpView struct {
	Lang         string
	OtherLang    string // the language the page links to
	OtherLangURL string // the same page in OtherLang
	T            map[string]string
	Title        string
	Company      campaigns.Company

	Token      string
	Greeting   string
	EventTitle string
	When       string // start – end in the reader's zone
	VenueTime  string // the same in the event's zone, when the reader keeps another clock
	Location   string
	MapURL     string
	EventURL   string
	Deadline   string // when answers close, in the reader's zone
	ICSURL     string // "" when no calendar link is offered (cancelled)
	GoogleURL  string
	Current    string // the current answer, in words
	Legend     string // the form's question (answer, or change the answer)
	Answers    []unsubChoice
	Done       string // the thank-you after a POST ("" otherwise)
	DoneMail   bool   // the POST changed the answer: a confirmation mail is coming
	Open       bool   // answers may change: the form is shown
	Closed     string // why the form is not shown

	// Message pages (400, 409).
	Message string
	BackURL string
}

// rsvpLoad verifies the token of a request to /r/{token}… and loads what
// the page shows. It answers the 404 page itself (and reports false) for a
// forged, altered or unknown token or a campaign that is not an event, the
// test-copy page for a genuine link without a delivery (a test copy or a
// preview), and an error page when the database fails.
func (s *Server) rsvpLoad(w http.ResponseWriter, r *http.Request) (runs.RSVPView, string, bool) {
	tok := r.PathValue("token")
	cl, err := s.opt.Signer.Verify(tok, token.RSVP)
	if err == nil && cl.DeliveryID == 0 {
		lang := unsubLang(r, "ja")
		t := rsvpWords[lang]
		s.unsubRender(w, http.StatusOK, unsubDoneTmpl, rsvpView{Lang: lang, T: t, Title: t["test_copy_title"], Message: t["test_copy"]})
		return runs.RSVPView{}, "", false
	}
	if err != nil || cl.DeliveryID < 0 {
		s.handleNotFound(w, r)
		return runs.RSVPView{}, "", false
	}
	v, err := runs.LoadRSVP(r.Context(), s.opt.DB, cl.DeliveryID)
	if errors.Is(err, store.ErrNotFound) {
		s.handleNotFound(w, r)
		return runs.RSVPView{}, "", false
	}
	if err != nil {
		s.log.Error("rsvp: cannot read the delivery", "delivery_id", cl.DeliveryID, "err", err)
		s.unsubError(w, r, unsubLang(r, "ja"))
		return runs.RSVPView{}, "", false
	}
	if v.Campaign == nil || v.Campaign.Event == nil {
		s.handleNotFound(w, r)
		return runs.RSVPView{}, "", false
	}
	return v, tok, true
}

// rsvpBase fills what every RSVP page of v shows in lang.
func rsvpBase(v runs.RSVPView, tok, lang string) rsvpView {
	t := rsvpWords[lang]
	e := v.Campaign.Event
	p := rsvpView{Lang: lang, T: t, Company: v.Campaign.Company, Token: tok, EventTitle: e.Title, Title: e.Title}
	if name := rsvpFullName(v.FamilyName, v.GivenName, lang); name != "" {
		p.Greeting = fmt.Sprintf(t["greeting"], name)
	}
	p.BackURL = "/r/" + tok + "?lang=" + lang
	return p
}

// rsvpFullName puts the names in the language's order: ja "姓 名", en
// "Given Family".
func rsvpFullName(family, given, lang string) string {
	switch {
	case family == "":
		return given
	case given == "":
		return family
	case lang == "ja":
		return family + " " + given
	}
	return given + " " + family
}

// rsvpState is the current answer in words ("キャンセル待ち（2番目）").
func rsvpState(v runs.RSVPView, t map[string]string) string {
	if v.Waitlisted {
		return fmt.Sprintf(t["state_waitlisted"], v.Position)
	}
	for _, a := range rsvpAnswers {
		if a.value == v.Answer {
			return t[a.state]
		}
	}
	return t["state_none"]
}

// rsvpDeadline formats the deadline in the reader's zone, naming the zone
// in English (and in Japanese for a reader abroad).
func rsvpDeadline(v runs.RSVPView, lang string) string {
	loc := tz.Load(v.TimeZone)
	out := rsvpDateTime(v.Deadline, lang, loc)
	_, off := v.Deadline.In(loc).Zone()
	_, ev := v.Deadline.In(rsvpEventZone(v.Campaign.Event.StartsAt, v.Campaign.Schedule.Timezone)).Zone()
	if lang == "en" || off != ev {
		out += " " + rsvpZoneLabel(v.Deadline.In(loc))
	}
	return out
}

// handleRSVPPage serves GET /r/{token}?a=yes|no|maybe: the event in the
// alumnus's language (or ?lang=ja|en) and time zone, its place with a map
// link, its URL, an .ics download and a Google Calendar link, and the
// answer form with a preselected (an unknown value preselects nothing;
// without a, the current answer). After the deadline or for a cancelled
// event it says so and shows no form. ?done=1 (where a POST redirects)
// thanks the reader for the answer now recorded. It changes nothing:
// mail scanners follow links (SPEC.md, Web server).
func (s *Server) handleRSVPPage(w http.ResponseWriter, r *http.Request) {
	v, tok, ok := s.rsvpLoad(w, r)
	if !ok {
		return
	}
	lang := unsubLang(r, v.Locale)
	q := r.URL.Query()
	p := rsvpBase(v, tok, lang)
	t, e := p.T, v.Campaign.Event
	p.OtherLang = unsubOther(lang)
	other := url.Values{"lang": {p.OtherLang}}
	for _, k := range []string{"a", "done"} {
		if x := q.Get(k); x != "" {
			other.Set(k, x)
		}
	}
	p.OtherLangURL = "?" + other.Encode()

	p.When, p.VenueTime = rsvpWhen(v.Campaign, lang, v.TimeZone)
	p.Location, p.MapURL, p.EventURL = e.Location, rsvpMapURL(e.Location), e.URL
	p.Deadline = rsvpDeadline(v, lang)
	cancelled := rsvpCancelled(e)
	if !cancelled {
		p.ICSURL = "/r/" + tok + "/event.ics"
		p.GoogleURL = rsvpGoogleCalendarURL(e, v.TimeZone)
	}
	p.Current = rsvpState(v, t)
	p.Legend = t["answer_legend"]
	if v.Answer != "" {
		p.Legend = t["change_legend"]
	}
	p.Open = !v.Closed(s.opt.Now())
	switch {
	case cancelled:
		p.Open, p.Closed = false, t["cancelled"]
	case !p.Open:
		p.Closed = fmt.Sprintf(t["closed"], p.Deadline)
	}

	if done := q.Get("done"); (done == "1" || done == "same") && v.Answer != "" {
		p.DoneMail = done == "1"
		for _, a := range rsvpAnswers {
			if a.value == v.Answer {
				p.Done = t[a.done]
			}
		}
		if v.Waitlisted {
			p.Done = fmt.Sprintf(t["done_waitlisted"], v.Position)
		}
	}
	pre := q.Get("a")
	if !rsvpValid(pre) {
		pre = ""
		if !q.Has("a") {
			pre = v.Answer
		}
	}
	for _, a := range rsvpAnswers {
		p.Answers = append(p.Answers, unsubChoice{Value: a.value, Label: t[a.label], Checked: a.value == pre})
	}
	s.unsubRender(w, http.StatusOK, rsvpPageTmpl, p)
}

// handleRSVP serves POST /r/{token}: form field a=yes|no|maybe recorded
// with runs.RecordRSVP (capacity, waiting list and the confirmation mail
// are its business; the server's Enqueue hands the mail to the workers at
// once), then 303 See Other to GET /r/{token}?done=1 (Post/Redirect/Get:
// a reload does not post again; ?done=same when the answer did not
// change). A missing or unknown answer is a 400 page; after the deadline
// or for a cancelled event a 409 page says that nothing changed. The
// signed token is the authority; cross-origin browser posts are refused
// by the middleware as for /u/.
func (s *Server) handleRSVP(w http.ResponseWriter, r *http.Request) {
	if !s.unsubParseForm(w, r) {
		return
	}
	v, tok, ok := s.rsvpLoad(w, r)
	if !ok {
		return
	}
	lang := unsubLang(r, v.Locale)
	p := rsvpBase(v, tok, lang)
	t := p.T
	answer := r.PostFormValue("a")
	if !rsvpValid(answer) {
		p.Title, p.Message = t["bad_answer_title"], t["bad_answer"]
		s.unsubRender(w, http.StatusBadRequest, rsvpMessageTmpl, p)
		return
	}
	res, err := runs.RecordRSVP(r.Context(), s.opt.DB,
		runs.Answer{DeliveryID: v.DeliveryID, Answer: answer, At: s.opt.Now(), Via: rsvpVia}, s.opt.Enqueue)
	switch {
	case errors.Is(err, runs.ErrBadAnswer):
		p.Title, p.Message = t["bad_answer_title"], t["bad_answer"]
		s.unsubRender(w, http.StatusBadRequest, rsvpMessageTmpl, p)
		return
	case errors.Is(err, runs.ErrEventCancelled):
		p.Title, p.Message = t["cancelled_title"], t["cancelled_post"]
		s.unsubRender(w, http.StatusConflict, rsvpMessageTmpl, p)
		return
	case errors.Is(err, runs.ErrRSVPClosed):
		p.Title, p.Message = t["closed_title"], fmt.Sprintf(t["closed_post"], rsvpDeadline(v, lang))
		s.unsubRender(w, http.StatusConflict, rsvpMessageTmpl, p)
		return
	case errors.Is(err, store.ErrNotFound):
		s.handleNotFound(w, r)
		return
	case err != nil:
		s.log.Error("rsvp: recording the answer failed", "delivery_id", v.DeliveryID, "answer", answer, "err", err)
		s.unsubError(w, r, lang)
		return
	}
	done := "same"
	if res.Changed {
		done = "1"
		s.meter().RSVP(res.Answer)
	}
	s.log.Info("rsvp recorded", "campaign", v.Campaign.ID, "delivery_id", v.DeliveryID, "answer", res.Answer,
		"waitlisted", res.Waitlisted, "changed", res.Changed, "promoted", res.Promoted)
	loc := "/r/" + tok + "?" + url.Values{"done": {done}, "lang": {lang}}.Encode()
	http.Redirect(w, r, loc, http.StatusSeeOther)
}

// handleRSVPCalendar serves GET /r/{token}/event.ics: the event as an
// iCalendar file to add to a calendar (METHOD:PUBLISH, RFC 5546 §3.2.1),
// downloaded as an attachment. Its UID and SEQUENCE are the invitation's,
// so a calendar that holds the invitation updates it; once the event is
// cancelled it says STATUS:CANCELLED (the page no longer offers it).
func (s *Server) handleRSVPCalendar(w http.ResponseWriter, r *http.Request) {
	v, _, ok := s.rsvpLoad(w, r)
	if !ok {
		return
	}
	body, err := s.rsvpICS(v)
	if err != nil {
		s.log.Error("rsvp: cannot prepare the calendar object", "campaign", v.Campaign.ID, "version_id", v.VersionID, "err", err)
		s.unsubError(w, r, unsubLang(r, v.Locale))
		return
	}
	h := w.Header()
	personal(w)
	h.Set("Content-Type", "text/calendar; charset=utf-8; method=PUBLISH")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": v.Campaign.ID + ".ics"}))
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

// rsvpCancelled reports whether the event is called off (cancelled: true
// in the campaign file's event block).
func rsvpCancelled(e *campaigns.Event) bool { return e.Cancelled }
