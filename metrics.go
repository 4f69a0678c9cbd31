package gatehouse

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the gateway's Prometheus metrics, on a registry of their own
// (never the global one). They live in Deps and survive reloads. Safe for
// concurrent use.
type Metrics struct {
	Registry       *prometheus.Registry
	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	upstreamErrors *prometheus.CounterVec
	reloads        *prometheus.CounterVec
	inflight       prometheus.Gauge
	auditFindings  *prometheus.GaugeVec
	rlDecisions    *prometheus.CounterVec
	validation     *prometheus.CounterVec
	jwksRefresh    *prometheus.CounterVec
	jwksKeys       *prometheus.GaugeVec
	rlErrors       prometheus.Counter // failed calls to the shared rate-limit backend
	rlFallback     prometheus.Gauge   // 1 while the shared backend is bypassed
}

// RateLimitBackendError counts a failed call to the shared rate-limit
// backend (gatehouse_ratelimit_backend_errors_total).
func (m *Metrics) RateLimitBackendError() { m.rlErrors.Inc() }

// RateLimitFallback sets whether the shared backend is bypassed and the
// failure modes apply (gatehouse_ratelimit_fallback_active).
func (m *Metrics) RateLimitFallback(active bool) {
	if active {
		m.rlFallback.Set(1)
	} else {
		m.rlFallback.Set(0)
	}
}

// NewMetrics creates the metrics and registers them, with the Go runtime and
// process collectors, on a new registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_requests_total", Help: "Requests by route and status class.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gatehouse_request_duration_seconds", Help: "Time from request start to the end of the response, by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_upstream_errors_total", Help: "Upstream failures by route and kind (connect, timeout, upstream_error, client_canceled, body_too_large).",
		}, []string{"route", "kind"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_config_reloads_total", Help: "Config reloads by result (ok, failed).",
		}, []string{"result"}),
		auditFindings: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gatehouse_audit_findings", Help: "Findings of the security audit of the config serving (gatehouse audit config), by severity.",
		}, []string{"severity"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatehouse_requests_in_flight", Help: "Requests being served.",
		}),
		rlDecisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_ratelimit_decisions_total", Help: "Rate-limit decisions by route, policy and result (allowed, limited).",
		}, []string{"route", "policy", "result"}),
		validation: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_validation_failures_total", Help: "Requests and responses that failed OpenAPI validation, by route, location (path, query, header, cookie, body, operation, response) and mode (enforce, report).",
		}, []string{"route", "location", "mode"}),
		jwksRefresh: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_jwks_fetches_total", Help: "Fetches of trusted issuers' key sets by issuer and result (ok, failed); a failed one keeps the cached keys.",
		}, []string{"issuer", "result"}),
		jwksKeys: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gatehouse_jwks_keys", Help: "Signing keys currently served per trusted issuer (0: tokens of that issuer cannot be checked).",
		}, []string{"issuer"}),
		rlErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_ratelimit_backend_errors_total", Help: "Failed calls to the shared rate-limit backend (Redis).",
		}),
		rlFallback: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatehouse_ratelimit_fallback_active", Help: "1 while the shared rate-limit backend is bypassed and failure modes apply.",
		}),
	}
	m.Registry.MustRegister(m.requests, m.duration, m.upstreamErrors, m.reloads, m.inflight, m.auditFindings, m.rlDecisions, m.validation, m.jwksRefresh, m.jwksKeys, m.rlErrors, m.rlFallback,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reloads.WithLabelValues("ok")
	m.reloads.WithLabelValues("failed")
	return m
}

// routeMetrics are the children of one route, looked up once at compile time
// so the request path does no label hashing.
type routeMetrics struct {
	byClass  [6]prometheus.Counter // index = status / 100 (0 unused)
	duration prometheus.Observer
}

var classLabels = [6]string{"", "1xx", "2xx", "3xx", "4xx", "5xx"}

func (m *Metrics) forRoute(name string) *routeMetrics {
	rm := &routeMetrics{duration: m.duration.WithLabelValues(name)}
	for i := 1; i < 6; i++ {
		rm.byClass[i] = m.requests.WithLabelValues(name, classLabels[i])
	}
	return rm
}

func (rm *routeMetrics) observe(status int, seconds float64) {
	c := status / 100
	if c < 1 || c > 5 {
		c = 5
	}
	rm.byClass[c].Inc()
	rm.duration.Observe(seconds)
}
