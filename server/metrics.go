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
// between scrapes, and the directory's running totals (logins, refreshes,
// password checks).
type statsCollector struct {
	dir   *directory.Directory
	log   *slog.Logger
	peers *prometheus.Desc
	files *prometheus.Desc
	// Totals since the directory started (directory.Counters).
	logins, refreshes, passwordChecks *prometheus.Desc
	// Live searches open now (directory.WatchStats).
	watches, watchedQueries *prometheus.Desc
}

func newStatsCollector(dir *directory.Directory, log *slog.Logger) *statsCollector {
	return &statsCollector{
		dir:   dir,
		log:   log,
		peers: prometheus.NewDesc("peerhub_directory_online_peers", "Peer sessions online now.", nil, nil),
		files: prometheus.NewDesc("peerhub_directory_indexed_files", "Files that online peers share now.", nil, nil),
		logins: prometheus.NewDesc("peerhub_directory_logins_total",
			"Sessions opened with a password since the directory started, by kind: peer or client.", []string{"kind"}, nil),
		refreshes: prometheus.NewDesc("peerhub_directory_refreshes_total",
			"Client sessions opened with a refresh token (no password check) since the directory started.", nil, nil),
		passwordChecks: prometheus.NewDesc("peerhub_directory_password_checks_total",
			"Password (bcrypt) checks since the directory started, right or wrong.", nil, nil),
		watches:        prometheus.NewDesc("peerhub_directory_watches", "Live searches (WatchSearch) open now at this directory.", nil, nil),
		watchedQueries: prometheus.NewDesc("peerhub_directory_watched_queries", "Distinct queries of the open live searches: searches per poll round.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.peers
	ch <- c.files
	ch <- c.logins
	ch <- c.refreshes
	ch <- c.passwordChecks
	ch <- c.watches
	ch <- c.watchedQueries
}

// Collect implements prometheus.Collector.
func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.dir.Counters()
	ch <- prometheus.MustNewConstMetric(c.logins, prometheus.CounterValue, float64(n.PeerLogins), "peer")
	ch <- prometheus.MustNewConstMetric(c.logins, prometheus.CounterValue, float64(n.ClientLogins), "client")
	ch <- prometheus.MustNewConstMetric(c.refreshes, prometheus.CounterValue, float64(n.Refreshes))
	ch <- prometheus.MustNewConstMetric(c.passwordChecks, prometheus.CounterValue, float64(n.PasswordChecks))
	watches, queries := c.dir.WatchStats()
	ch <- prometheus.MustNewConstMetric(c.watches, prometheus.GaugeValue, float64(watches))
	ch <- prometheus.MustNewConstMetric(c.watchedQueries, prometheus.GaugeValue, float64(queries))
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
