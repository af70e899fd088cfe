package cluster

import "github.com/prometheus/client_golang/prometheus"

// Register adds the connection's counters to reg:
// majlis_cluster_bad_messages_total (did not decode, dropped),
// majlis_cluster_dropped_messages_total (a full local queue dropped them),
// majlis_cluster_messages_{out,in}_total and majlis_cluster_bytes_{out,in}_total
// (the NATS client's own counts) and majlis_cluster_connected (1 while a
// NATS server is connected).
func (c *Conn) Register(reg *prometheus.Registry) error {
	for _, col := range []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "majlis_cluster_bad_messages_total",
			Help: "Cluster messages that did not decode (dropped)."}, func() float64 { return float64(c.bad.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "majlis_cluster_dropped_messages_total",
			Help: "Cluster messages dropped by a full local queue (slow consumer)."}, func() float64 { return float64(c.dropped.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "majlis_cluster_messages_out_total",
			Help: "Messages this process published to NATS (programs, events, load reports)."}, func() float64 { return float64(c.nc.Stats().OutMsgs) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "majlis_cluster_messages_in_total",
			Help: "Messages this process received from NATS."}, func() float64 { return float64(c.nc.Stats().InMsgs) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "majlis_cluster_bytes_out_total",
			Help: "Payload bytes this process published to NATS."}, func() float64 { return float64(c.nc.Stats().OutBytes) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "majlis_cluster_bytes_in_total",
			Help: "Payload bytes this process received from NATS."}, func() float64 { return float64(c.nc.Stats().InBytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "majlis_cluster_connected",
			Help: "1 while connected to a NATS server."}, func() float64 {
			if c.Connected() {
				return 1
			}
			return 0
		}),
	} {
		if err := reg.Register(col); err != nil {
			return err
		}
	}
	return nil
}

// Register adds majlis_cluster_edges (edges whose last report is younger
// than ReportTTL) and majlis_cluster_refused_reports_total (reports of new
// edge ids beyond MaxEdges) to reg.
func (f *Fleet) Register(reg *prometheus.Registry) error {
	for _, col := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "majlis_cluster_edges",
			Help: "Edges reporting their load (last report younger than 5 s)."}, func() float64 { return float64(f.Edges()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "majlis_cluster_refused_reports_total",
			Help: "Load reports of a new edge id refused while the fleet keeps MaxEdges edges."}, func() float64 { return float64(f.RefusedReports()) }),
	} {
		if err := reg.Register(col); err != nil {
			return err
		}
	}
	return nil
}
