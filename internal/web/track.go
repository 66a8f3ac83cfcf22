package web

// STUB — replaced by the opens/clicks work.

import "net/http"

func (s *Server) handleOpen(w http.ResponseWriter, r *http.Request)  { s.handleNotFound(w, r) }
func (s *Server) handleClick(w http.ResponseWriter, r *http.Request) { s.handleNotFound(w, r) }
