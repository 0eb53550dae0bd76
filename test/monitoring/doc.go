// Package monitoring tests the monitoring manifests in manifests/monitoring
// (the Grafana dashboard and the PrometheusRule alerts) against the daemon's
// metrics. It is a module of its own, so that Prometheus's server module,
// whose PromQL parser, rule-file parser and query engine the tests use, adds
// nothing to the daemon's go.mod or binary:
//
//	metrics.New() + every recording method ─► Gather ─► series names, labels, label values
//	                                                          │
//	dashboard targets, variable queries, alert expressions ─► PromQL parser ─► checked against them
//	PrometheusRule spec ─► rulefmt (Prometheus's rule-file validation) ─► runbook sections in docs
//	alert expressions + example series ─► query engine every 30 s ─► fires / stays quiet
//
// The kubernetes-mixin's kube-proxy queries also give the series (and labels)
// they need as a file the e2e suite checks the daemon's live /metrics
// against in the VM (test/e2e/scenarios/testdata/mixin-series.txt).
//
// `make test` runs it; `go test -update` here rewrites the dashboard from
// dashboardSpec and that file from mixinQueries.
package monitoring
