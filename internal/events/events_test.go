package events

import (
	"encoding/json"
	"testing"
)

func TestStreamResumeLagClose(t *testing.T) {
	s := NewStream(4, 100)
	if r := s.Since(100); len(r.Events) != 0 || r.Lagged || r.Closed {
		t.Fatalf("empty stream: %+v", r)
	}
	r0 := s.Since(100)
	for i := 0; i < 3; i++ {
		s.Publish("x", map[string]int{"i": i})
	}
	select {
	case <-r0.Wake:
	default:
		t.Fatal("publish did not wake a waiting reader")
	}
	r := s.Since(101)
	if len(r.Events) != 2 || r.Events[0].Seq != 102 || r.Last != 103 {
		t.Fatalf("resume: %+v", r)
	}
	var ev struct {
		Seq  uint64
		Type string
		Data map[string]int
	}
	if err := json.Unmarshal(r.Events[1].Raw, &ev); err != nil || ev.Seq != 103 || ev.Type != "x" || ev.Data["i"] != 2 {
		t.Fatalf("event %s: %v", r.Events[1].Raw, err)
	}
	for i := 0; i < 4; i++ {
		s.Publish("y", nil)
	}
	if r := s.Since(101); !r.Lagged {
		t.Fatal("a cursor older than the ring must lag")
	}
	if r := s.Since(500); !r.Lagged {
		t.Fatal("a cursor from the future must lag")
	}
	if r := s.Since(103); len(r.Events) != 4 || r.Lagged {
		t.Fatalf("ring-sized gap: %+v", r)
	}
	s.Close()
	if s.Publish("z", nil) != 0 {
		t.Fatal("publish after close")
	}
	if r := s.Since(s.Seq()); !r.Closed {
		t.Fatal("closed stream not reported")
	}
}
