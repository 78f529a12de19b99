package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/peerhub/peerhub/server/directory"
)

// statsTimeout bounds the store query behind one scrape.
const statsTimeout = 5 * time.Second

// statsCollector exports the online peers and indexed files, asking the
// store at scrape time so the numbers are never stale and cost nothing
// between scrapes.
type statsCollector struct {
	dir   *directory.Directory
	log   *slog.Logger
	peers *prometheus.Desc
	files *prometheus.Desc
}

func newStatsCollector(dir *directory.Directory, log *slog.Logger) *statsCollector {
	return &statsCollector{
		dir:   dir,
		log:   log,
		peers: prometheus.NewDesc("peerhub_directory_online_peers", "Peer sessions online now.", nil, nil),
		files: prometheus.NewDesc("peerhub_directory_indexed_files", "Files that online peers share now.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.peers
	ch <- c.files
}

// Collect implements prometheus.Collector.
func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), statsTimeout)
	defer cancel()
	st, err := c.dir.Stats(ctx)
	if err != nil {
		c.log.Warn("metrics: store statistics", "error", err)
		ch <- prometheus.NewInvalidMetric(c.peers, err)
		ch <- prometheus.NewInvalidMetric(c.files, err)
		return
	}
	for _, m := range []struct {
		desc *prometheus.Desc
		v    int64
	}{{c.peers, st.OnlinePeers}, {c.files, st.IndexedFiles}} {
		metric, err := prometheus.NewConstMetric(m.desc, prometheus.GaugeValue, float64(m.v))
		if err != nil {
			metric = prometheus.NewInvalidMetric(m.desc, err)
		}
		ch <- metric
	}
}
