// Package metrics owns kcid's Prometheus metrics: the registry, the
// instruments other layers record into through small interfaces they
// declare (Recorder satisfies api.RequestObserver, service.Observer and
// the runtimes' Observers), the collector that asks the service
// at scrape time (groups by status, each group's latest usage sample), Go
// runtime and process metrics, and the /metrics handler with its optional
// bearer token. docs/metrics.md lists every series.
//
// Cardinality: series carry an account label (accounts are configured, so
// bounded) and never a group ID, except the per-group usage series
// (kcid_group_*, kcid_container_*), which exist once per live group and go
// with it.
package metrics

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/openkci/openkci/internal/core"
	"github.com/openkci/openkci/internal/service"
)

// Recorder holds kcid's registry and instruments. A nil *Recorder records
// nothing. It is safe for concurrent use.
type Recorder struct {
	reg *prometheus.Registry

	apiRequests  *prometheus.CounterVec
	apiLatency   *prometheus.HistogramVec
	groupStart   prometheus.Histogram
	startSteps   *prometheus.HistogramVec
	groupDelete  prometheus.Histogram
	pulls        *prometheus.CounterVec
	pullBytes    prometheus.Counter
	pullDuration prometheus.Histogram
	restarts     *prometheus.CounterVec
}

// Source is what the scrape-time collector asks: *service.Service.
type Source interface {
	CountGroups(ctx context.Context) ([]service.GroupCount, error)
	LatestUsage() []service.GroupUsageSample
}

// New returns a Recorder whose registry has kcid's instruments and the Go
// runtime and process collectors.
func New() *Recorder {
	r := &Recorder{
		reg: prometheus.NewRegistry(),
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kcid_api_requests_total",
			Help: "API requests answered, by action (\"unknown\" for an action kcid does not serve, \"\" before one was read), KCI error code (\"\" for success) and authenticated account (\"\" before authentication).",
		}, []string{"action", "code", "account"}),
		apiLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kcid_api_request_duration_seconds",
			Help:    "Time from a request's arrival to its answer, by action.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"action"}),
		groupStart: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kcid_group_start_duration_seconds",
			Help:    "Time from a group's creation to its first Running phase (on Kubernetes, its pod's).",
			Buckets: []float64{.25, .5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600},
		}),
		startSteps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kcid_group_start_step_seconds",
			Help:    "Time from a group's acceptance to each step of its first start (VolumesReady, NetworkReady, ImageReady, ContainerCreated, ContainerStarted: one observation per container, Running; on Kubernetes also Scheduled), by step.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300},
		}, []string{"step"}),
		groupDelete: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kcid_group_delete_duration_seconds",
			Help:    "Time from an accepted DeleteContainerGroup to the group's resources being released.",
			Buckets: []float64{.1, .25, .5, 1, 2, 5, 10, 20, 30, 60, 120},
		}),
		pulls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kcid_image_pulls_total",
			Help: "Image pulls from a registry, by result (success or error); images already present are not pulls.",
		}, []string{"result"}),
		pullBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kcid_image_pull_bytes_total",
			Help: "Size of the images pulled successfully (compressed content, as stored).",
		}),
		pullDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kcid_image_pull_duration_seconds",
			Help:    "Time of image pulls (on Kubernetes, successful ones: the kubelet's figure).",
			Buckets: []float64{.1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kcid_container_restarts_total",
			Help: "Containers started again after an attempt ended (the restarts RestartCount counts), by account.",
		}, []string{"account"}),
	}
	r.reg.MustRegister(r.apiRequests, r.apiLatency, r.groupStart, r.startSteps, r.groupDelete,
		r.pulls, r.pullBytes, r.pullDuration, r.restarts,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Registry is the registry /metrics serves.
func (r *Recorder) Registry() *prometheus.Registry { return r.reg }

// Watch registers the collector that asks src at each scrape.
func (r *Recorder) Watch(src Source, log *slog.Logger) {
	r.reg.MustRegister(&sourceCollector{src: src, log: log})
}

// APIRequest records one answered API request.
func (r *Recorder) APIRequest(action, code, account string, d time.Duration) {
	if r == nil {
		return
	}
	r.apiRequests.WithLabelValues(action, code, account).Inc()
	r.apiLatency.WithLabelValues(action).Observe(d.Seconds())
}

// GroupRunning records a group reaching Running for the first time, d
// after it was created.
func (r *Recorder) GroupRunning(d time.Duration) {
	if r != nil {
		r.groupStart.Observe(d.Seconds())
	}
}

// GroupStartStep records a step of a group's first start reached
// sinceAccepted after the API accepted the group (the runtime's
// StartObserver). The container is not a label: its names are the
// tenants'.
func (r *Recorder) GroupStartStep(step core.StartStep, _ string, sinceAccepted time.Duration) {
	if r != nil {
		r.startSteps.WithLabelValues(string(step)).Observe(sinceAccepted.Seconds())
	}
}

// GroupDeleted records a group released d after its deletion was accepted.
func (r *Recorder) GroupDeleted(d time.Duration) {
	if r != nil {
		r.groupDelete.Observe(d.Seconds())
	}
}

// ImagePulled records one pull from a registry: its size when it
// succeeded, and how long it took (d <= 0: not known, not observed).
func (r *Recorder) ImagePulled(bytes int64, d time.Duration, err error) {
	if r == nil {
		return
	}
	result := "success"
	if err != nil {
		result = "error"
	} else {
		r.pullBytes.Add(float64(bytes))
	}
	r.pulls.WithLabelValues(result).Inc()
	if d > 0 {
		r.pullDuration.Observe(d.Seconds())
	}
}

// ContainerRestarted records one restart of a container of the account.
func (r *Recorder) ContainerRestarted(accountID string) {
	if r != nil {
		r.restarts.WithLabelValues(accountID).Inc()
	}
}

// Handler serves the registry in the Prometheus text format. With a
// token, a request must carry "Authorization: Bearer <token>".
func (r *Recorder) Handler(token string, log *slog.Logger) http.Handler {
	h := promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
	if token == "" {
		return h
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		got := []byte(strings.TrimSpace(req.Header.Get("Authorization")))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="kcid metrics"`)
			http.Error(w, "kcid metrics: send the token of the config's metrics.token as \"Authorization: Bearer TOKEN\"", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, req)
	})
}
