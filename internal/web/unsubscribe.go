package web

// STUB — replaced by the unsubscribe and preferences work.

import "net/http"

func (s *Server) handleUnsubscribePage(w http.ResponseWriter, r *http.Request) { s.handleNotFound(w, r) }
func (s *Server) handleUnsubscribe(w http.ResponseWriter, r *http.Request)     { s.handleNotFound(w, r) }
func (s *Server) handlePreferences(w http.ResponseWriter, r *http.Request)     { s.handleNotFound(w, r) }
func (s *Server) handleStatic(w http.ResponseWriter, r *http.Request)          { s.handleNotFound(w, r) }

// handleNotFound answers 404 with the not-found page.
func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "not found", http.StatusNotFound)
}
