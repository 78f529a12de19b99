package testutil

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
)

// Metric reads one sample of a Prometheus text exposition at metricsURL
// (e.g. "http://127.0.0.1:8000/metrics"): sample is the metric's name with
// its labels as exposed, e.g. `peerhub_directory_logins_total{kind="peer"}`.
// It fails the test when the sample is missing.
func Metric(t testing.TB, metricsURL, sample string) float64 {
	t.Helper()
	v, ok := readSample(t, metricsURL, sample)
	if !ok {
		t.Fatalf("%s lacks %s", metricsURL, sample)
	}
	return v
}

// Counter is Metric for a labelled counter, which the exposition leaves out
// until its first increment: a missing sample reads as 0.
func Counter(t testing.TB, metricsURL, sample string) float64 {
	t.Helper()
	v, _ := readSample(t, metricsURL, sample)
	return v
}

// readSample fetches the exposition and returns sample's value, or false
// when it is not there.
func readSample(t testing.TB, metricsURL, sample string) (float64, bool) {
	t.Helper()
	res, err := http.Get(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatalf("%s: %s: %v", metricsURL, sample, err)
	}
	return v, true
}
