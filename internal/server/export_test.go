package server

import (
	"majlis/internal/admission"
	"majlis/internal/live"
	"majlis/internal/overload"
)

// Accessors only the tests use.

// StageAddr is the bound stage address ("" without --stage-http).
func (s *Server) StageAddr() string {
	if s.planes.stageLn == nil {
		return ""
	}
	return s.planes.stageLn.Addr().String()
}

// Overload is the audience plane's overload detector.
func (s *Server) Overload() *overload.Detector { return s.planes.detector }

// Reactions is the per-IP and per-prefix reaction limiter of the audience
// plane; the reactions handler calls Allow(httpapi.ClientAddr(r)) (the
// audience guard applies it already to …/reactions paths).
func (s *Server) Reactions() *admission.Limiter { return s.planes.reactions }

// AdminToken is the admin bearer token.
func (s *Server) AdminToken() string { return s.adminTok }

// Overload is the edge's audience overload detector.
func (s *EdgeServer) Overload() *overload.Detector { return s.planes.detector }

// LiveRoom is room's live mixer and program on this origin (nil when not live).
func (s *Server) LiveRoom(room string) *live.Room { return s.live.Get(room) }
