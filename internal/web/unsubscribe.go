package web

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"mime"
	"net/http"

	"github.com/jmoiron/sqlx"

	"github.com/kizuna-alumni/kizuna/campaigns"
	"github.com/kizuna-alumni/kizuna/internal/roster"
	"github.com/kizuna-alumni/kizuna/internal/runs"
	"github.com/kizuna-alumni/kizuna/internal/store"
	"github.com/kizuna-alumni/kizuna/internal/token"
)

// unsubPages holds the page templates and the one stylesheet, embedded in
// the binary: the pages load nothing from anywhere else.
//
//go:embed pages/*.html pages/kizuna.css
var unsubPages embed.FS

// unsubCSSName is the one file /static/ serves.
const unsubCSSName = "kizuna.css"

var (
	unsubCSS       = mustRead("pages/" + unsubCSSName)
	unsubPageTmpl  = pageTemplate("unsubscribe.html")
	unsubDoneTmpl  = pageTemplate("done.html")
	unsubNotFound  = pageTemplate("notfound.html")
	unsubNotFoundB = mustRender(unsubNotFound, unsubView{Lang: "ja", Title: "ページが見つかりません / Page not found"})
)

func mustRead(name string) []byte {
	b, err := unsubPages.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return b
}

func pageTemplate(name string) *template.Template {
	return template.Must(template.ParseFS(unsubPages, "pages/layout.html", "pages/"+name))
}

func mustRender(t *template.Template, v unsubView) []byte {
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout", v); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// unsubChoice is one radio button of the preferences form.
type unsubChoice struct {
	Value, Label string
	Checked      bool
}

// unsubView is what a page template is given.
type unsubView struct {
	Lang      string // the page's language: ja | en
	OtherLang string // the language the page links to ("" on the 404 page)
	T         map[string]string
	Title     string
	Message   string
	Company   campaigns.Company
	// CompanyName is the sender named in sentences (the company, else the
	// campaign id).
	CompanyName string
	Token       string
	Active      bool // the person is still mailed: the button and preferences are shown
	Kinds       []unsubChoice
	Locales     []unsubChoice
}

// unsubLang is the language of a page: ?lang= when it names one we have,
// else the alumnus's locale, else Japanese.
func unsubLang(r *http.Request, locale string) string {
	if l := r.URL.Query().Get("lang"); unsubText[l] != nil {
		return l
	}
	if l := r.FormValue("lang"); r.Method == http.MethodPost && unsubText[l] != nil {
		return l
	}
	if unsubText[locale] != nil {
		return locale
	}
	return "ja"
}

func unsubOther(lang string) string {
	if lang == "ja" {
		return "en"
	}
	return "ja"
}

// unsubRecipient verifies the request's token and loads its delivery. It
// answers the 404 page itself (and returns nil) for a forged, altered or
// unknown token, and an error page when the database fails.
func (s *Server) unsubRecipient(w http.ResponseWriter, r *http.Request) (*runs.Recipient, string) {
	tok := r.PathValue("token")
	cl, err := s.opt.Signer.Verify(tok, token.Unsubscribe)
	if err == nil && cl.DeliveryID == 0 {
		// A genuine link of a test copy or preview: no delivery to act on.
		lang := unsubLang(r, "ja")
		v := unsubView{Lang: lang, T: unsubText[lang]}
		s.unsubDone(w, http.StatusOK, v, "test_copy_title", v.T["test_copy"])
		return nil, ""
	}
	if err != nil || cl.DeliveryID < 0 {
		s.handleNotFound(w, r)
		return nil, ""
	}
	rc, err := runs.DeliveryRecipient(r.Context(), s.opt.DB, cl.DeliveryID)
	if errors.Is(err, store.ErrNotFound) {
		s.handleNotFound(w, r)
		return nil, ""
	}
	if err != nil {
		s.log.Error("unsubscribe: cannot read the delivery", "delivery_id", cl.DeliveryID, "err", err)
		s.unsubError(w, r, "ja")
		return nil, ""
	}
	return rc, tok
}

// view fills what every page of a recipient shows.
func unsubViewFor(rc *runs.Recipient, lang string) unsubView {
	v := unsubView{Lang: lang, OtherLang: unsubOther(lang), T: unsubText[lang]}
	if rc.Campaign != nil {
		v.Company = rc.Campaign.Company
	}
	v.CompanyName = v.Company.Name
	if v.CompanyName == "" {
		v.CompanyName = rc.CampaignID
	}
	return v
}

// handleUnsubscribePage serves GET /u/{token}: in the alumnus's language
// (or ?lang=ja|en), one button that unsubscribes (a form posting to
// /u/{token}) and the preferences form. It changes nothing: mail scanners
// follow links (SPEC.md, Web server).
func (s *Server) handleUnsubscribePage(w http.ResponseWriter, r *http.Request) {
	rc, tok := s.unsubRecipient(w, r)
	if rc == nil {
		return
	}
	lang := unsubLang(r, rc.Locale)
	v := unsubViewFor(rc, lang)
	v.Title = v.T["unsub_title"]
	v.Token = tok
	v.Active = rc.Status == roster.StatusActive && rc.Email.Valid
	kinds := rc.MailKinds
	if kinds == "" {
		kinds = roster.MailAll
	}
	for _, k := range []struct{ value, key string }{
		{roster.MailAll, "kinds_all"}, {roster.MailNewsletter, "kinds_newsletter"}, {roster.MailEvent, "kinds_event"},
	} {
		v.Kinds = append(v.Kinds, unsubChoice{Value: k.value, Label: v.T[k.key], Checked: k.value == kinds})
	}
	for _, l := range roster.Locales {
		v.Locales = append(v.Locales, unsubChoice{Value: l, Label: localeNames[l], Checked: l == rc.Locale})
	}
	s.unsubRender(w, http.StatusOK, unsubPageTmpl, v)
}

// handleUnsubscribe serves POST /u/{token}: the RFC 8058 one-click
// unsubscribe (body List-Unsubscribe=One-Click, urlencoded or multipart,
// RFC 8058 §3.1) and the page's own button. No cookie, login or
// confirmation; the signed token is the authority. In one transaction the
// address is suppressed (roster.Suppress) and an unsubscribe event is
// recorded on the delivery unless it has one, so a repeat changes
// nothing. It answers 200 with the done page and never redirects (RFC
// 8058 §3.2: the POST must not be redirected to a page that asks for
// more). A forgotten person is already never mailed: nothing is stored.
func (s *Server) handleUnsubscribe(w http.ResponseWriter, r *http.Request) {
	rc := s.unsubPosted(w, r)
	if rc == nil {
		return
	}
	lang := unsubLang(r, rc.Locale)
	v := unsubViewFor(rc, lang)
	v.OtherLang = ""
	if !rc.Email.Valid {
		s.unsubDone(w, http.StatusOK, v, "done_gone_title", v.T["done_gone"])
		return
	}
	via := runs.UnsubscribeOneClick
	if r.PostFormValue("from") == "page" {
		via = runs.UnsubscribePage
	}
	err := store.InTx(r.Context(), s.opt.DB, func(tx *sqlx.Tx) error {
		if err := roster.Suppress(r.Context(), tx, roster.SuppressUnsubscribed, []string{rc.Email.String}); err != nil {
			return err
		}
		recorded, err := runs.RecordUnsubscribe(r.Context(), tx, rc.DeliveryID, via)
		if err == nil && recorded {
			s.meter().Unsubscribed()
		}
		return err
	})
	if err != nil {
		s.log.Error("unsubscribe failed", "delivery_id", rc.DeliveryID, "err", err)
		s.unsubError(w, r, lang)
		return
	}
	s.unsubDone(w, http.StatusOK, v, "done_unsub_title", fmt.Sprintf(v.T["done_unsub"], v.CompanyName))
}

// unsubPosted parses the form of a POST to /u/{token}… and returns its
// recipient, or nil once it has answered (bad form, forged token).
func (s *Server) unsubPosted(w http.ResponseWriter, r *http.Request) *runs.Recipient {
	if !s.unsubParseForm(w, r) {
		return nil
	}
	rc, _ := s.unsubRecipient(w, r)
	return rc
}

// unsubDone answers the done page with the title of key titleKey and
// message.
func (s *Server) unsubDone(w http.ResponseWriter, code int, v unsubView, titleKey, message string) {
	v.Title, v.Message = v.T[titleKey], message
	s.unsubRender(w, code, unsubDoneTmpl, v)
}

// handlePreferences serves POST /u/{token}/preferences: form fields kinds
// (all | newsletter | event) and locale (ja | en), saved with
// roster.SetPreferences and honoured by every worker from its next claim.
// It answers the done page in the chosen language; an unknown choice is a
// 400 page and changes nothing.
func (s *Server) handlePreferences(w http.ResponseWriter, r *http.Request) {
	rc := s.unsubPosted(w, r)
	if rc == nil {
		return
	}
	kinds, locale := r.PostFormValue("kinds"), r.PostFormValue("locale")
	if locale == "" {
		locale = rc.Locale
	}
	lang := locale
	if unsubText[lang] == nil {
		lang = unsubLang(r, rc.Locale)
	}
	v := unsubViewFor(rc, lang)
	v.OtherLang = ""
	if !rc.Email.Valid {
		s.unsubDone(w, http.StatusOK, v, "done_gone_title", v.T["done_gone"])
		return
	}
	err := roster.SetPreferences(r.Context(), s.opt.DB, rc.AlumniID, kinds, locale)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.unsubDone(w, http.StatusOK, v, "done_gone_title", v.T["done_gone"])
		return
	case err != nil && !roster.ValidPreferences(kinds, locale):
		s.unsubDone(w, http.StatusBadRequest, v, "bad_form_title", v.T["bad_form"])
		return
	case err != nil:
		s.log.Error("saving preferences failed", "delivery_id", rc.DeliveryID, "err", err)
		s.unsubError(w, r, lang)
		return
	}
	key := map[string]string{roster.MailAll: "done_prefs_all", roster.MailNewsletter: "done_prefs_news", roster.MailEvent: "done_prefs_event"}[kinds]
	v.Title, v.Message = v.T["done_prefs_title"], fmt.Sprintf(v.T[key], v.CompanyName)
	if rc.Status != roster.StatusActive {
		v.Message = v.T["already"]
	}
	s.unsubRender(w, http.StatusOK, unsubDoneTmpl, v)
}

// unsubParseForm reads a urlencoded or multipart body (RFC 8058 §3.1
// allows both); an over-long body is a 413, a malformed one a 400. It
// reports whether the handler may go on.
func (s *Server) unsubParseForm(w http.ResponseWriter, r *http.Request) bool {
	personal(w)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var err error
	if ct == "multipart/form-data" {
		err = r.ParseMultipartForm(MaxBodyBytes)
	} else {
		err = r.ParseForm()
	}
	if err == nil {
		return true
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return false
	}
	http.Error(w, "malformed form body", http.StatusBadRequest)
	return false
}

// unsubError answers a 500 page in lang: the database failed.
func (s *Server) unsubError(w http.ResponseWriter, r *http.Request, lang string) {
	t := unsubText[lang]
	s.unsubRender(w, http.StatusInternalServerError, unsubDoneTmpl,
		unsubView{Lang: lang, T: t, Title: t["error_title"], Message: t["error"]})
}

// unsubRender writes a page of the server (v is an unsubView or an
// rsvpView): personal (never cached), HTML, with status.
func (s *Server) unsubRender(w http.ResponseWriter, status int, t *template.Template, v any) {
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout", v); err != nil {
		s.log.Error("cannot render a page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	personal(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// handleStatic serves GET /static/{file}: the pages' one stylesheet (the
// CSP allows style-src 'self' only). Any other name is the 404 page.
func (s *Server) handleStatic(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("file") != unsubCSSName {
		s.handleNotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write(unsubCSS)
}

// handleNotFound answers 404 with the not-found page, in Japanese and
// English (no campaign is known, so no company is named).
func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNotFound)
	w.Write(unsubNotFoundB)
}
