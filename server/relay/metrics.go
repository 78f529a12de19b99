package relay

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the relay's counters and gauges in /metrics.
type metrics struct {
	sessions prometheus.Counter
	refused  *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	stalls   prometheus.Counter
	active   prometheus.GaugeFunc
	waiting  prometheus.GaugeFunc
}

// newMetrics builds the metrics of r.
func newMetrics(r *Relay) metrics {
	m := metrics{
		sessions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "peerhub_relay_sessions_total",
			Help: "Relayed sessions started (a downloader paired with a peer).",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peerhub_relay_refused_total",
			Help: "Relay requests refused, by path (listen: a peer's waiting connection; connect: a downloader's) and Connect code.",
		}, []string{"path", "code"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peerhub_relay_bytes_total",
			Help: "Bytes the relay spliced, by direction (to_peer, from_peer).",
		}, []string{"direction"}),
		stalls: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "peerhub_relay_stalls_total",
			Help: "Relayed sessions cut because they moved no byte for the idle timeout.",
		}),
		active: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "peerhub_relay_sessions_active",
			Help: "Relayed sessions running now.",
		}, func() float64 {
			r.mu.Lock()
			defer r.mu.Unlock()
			return float64(r.sessions)
		}),
		waiting: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "peerhub_relay_waiting_connections",
			Help: "Connections peers keep open to the relay, waiting for a downloader.",
		}, func() float64 {
			r.mu.Lock()
			defer r.mu.Unlock()
			n := 0
			for _, e := range r.peers {
				n += len(e.waiting)
			}
			return float64(n)
		}),
	}
	for _, d := range []string{"to_peer", "from_peer"} {
		m.bytes.WithLabelValues(d) // export zeros before the first byte
	}
	return m
}

// register adds the metrics to reg.
func (m metrics) register(reg prometheus.Registerer) error {
	var errs []error
	for _, c := range []prometheus.Collector{m.sessions, m.refused, m.bytes, m.stalls, m.active, m.waiting} {
		errs = append(errs, reg.Register(c))
	}
	return errors.Join(errs...)
}
