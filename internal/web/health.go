package web

// STUB — replaced by the health and metrics work.

import "net/http"

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) { s.handleNotFound(w, r) }
