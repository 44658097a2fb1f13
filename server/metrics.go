package server

import "net/http"

// opsRoutes mounts the operational endpoints (/metrics, /healthz, /readyz)
// on the HTTP front end's mux. (Stub: filled in by the metrics work.)
func (s *Server) opsRoutes(mux *http.ServeMux) {}
