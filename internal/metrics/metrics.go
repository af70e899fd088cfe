// Package metrics holds the Prometheus collectors of one majlis process.
//
// One Metrics value is made per server (no global registry), so tests can run
// several servers in one process. Packages receive the *Metrics and update the
// fields they own; a nil *Metrics is never passed: use New(nil) in tests.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the collectors of one process.
type Metrics struct {
	Registry *prometheus.Registry

	RoomsLive     prometheus.Gauge
	StageMembers  prometheus.Gauge
	Listeners     *prometheus.GaugeVec   // label proto: ogg, ws
	BytesSent     *prometheus.CounterVec // label proto
	ChunksSent    *prometheus.CounterVec // label proto
	SlowSkips     *prometheus.CounterVec // label proto: a slow listener skipped forward
	SlowDrops     *prometheus.CounterVec // label proto: a slow listener disconnected
	MixerLate     prometheus.Counter     // ticks that started late (behind schedule by more than a frame)
	MixerConceal  prometheus.Counter     // speaker frames concealed (lost or late packet)
	MixerLoop     prometheus.Histogram   // seconds one mixer tick took
	MixerWakeups  prometheus.Counter     // mixer goroutine wake-ups (one batch of ticks each)
	WHIPSessions  prometheus.Counter     // WHIP sessions created
	RTPForwarded  prometheus.Counter     // RTP packets forwarded between stage members
	HTTPErrors    *prometheus.CounterVec // label code: stable API error code
	TicketsIssued prometheus.Counter
}

// New makes the collectors and registers them on reg (a fresh registry when nil).
func New(reg *prometheus.Registry) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &Metrics{
		Registry:      reg,
		RoomsLive:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "majlis_rooms_live", Help: "Rooms currently live."}),
		StageMembers:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "majlis_stage_members", Help: "Stage members currently publishing."}),
		Listeners:     prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "majlis_listeners", Help: "Listeners connected, by protocol."}, []string{"proto"}),
		BytesSent:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "majlis_listener_bytes_sent_total", Help: "Bytes written to listeners, by protocol."}, []string{"proto"}),
		ChunksSent:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "majlis_listener_chunks_sent_total", Help: "Program chunks written to listeners, by protocol."}, []string{"proto"}),
		SlowSkips:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "majlis_slow_listener_skips_total", Help: "Times a slow listener was skipped forward, by protocol."}, []string{"proto"}),
		SlowDrops:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "majlis_slow_listener_drops_total", Help: "Slow listeners disconnected, by protocol."}, []string{"proto"}),
		MixerLate:     prometheus.NewCounter(prometheus.CounterOpts{Name: "majlis_mixer_late_ticks_total", Help: "Mixer ticks that ran behind schedule."}),
		MixerConceal:  prometheus.NewCounter(prometheus.CounterOpts{Name: "majlis_mixer_concealed_frames_total", Help: "Speaker frames concealed because the packet was lost or late."}),
		MixerLoop:     prometheus.NewHistogram(prometheus.HistogramOpts{Name: "majlis_mixer_tick_seconds", Help: "Time one mixer tick took.", Buckets: prometheus.ExponentialBuckets(25e-6, 2, 12)}),
		MixerWakeups:  prometheus.NewCounter(prometheus.CounterOpts{Name: "majlis_mixer_wakeups_total", Help: "Mixer wake-ups; each makes a batch of frames (a program chunk, at most 5)."}),
		WHIPSessions:  prometheus.NewCounter(prometheus.CounterOpts{Name: "majlis_whip_sessions_total", Help: "WHIP sessions created."}),
		RTPForwarded:  prometheus.NewCounter(prometheus.CounterOpts{Name: "majlis_stage_rtp_forwarded_total", Help: "RTP packets forwarded between stage members."}),
		HTTPErrors:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "majlis_http_errors_total", Help: "API errors answered, by stable code."}, []string{"code"}),
		TicketsIssued: prometheus.NewCounter(prometheus.CounterOpts{Name: "majlis_tickets_issued_total", Help: "Join tickets issued."}),
	}
	reg.MustRegister(m.RoomsLive, m.StageMembers, m.Listeners, m.BytesSent, m.ChunksSent, m.SlowSkips, m.SlowDrops,
		m.MixerLate, m.MixerConceal, m.MixerLoop, m.MixerWakeups, m.WHIPSessions, m.RTPForwarded, m.HTTPErrors, m.TicketsIssued,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
