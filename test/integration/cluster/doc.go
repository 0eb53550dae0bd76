// Package cluster holds what the integration tests share: a fake kernel,
// the daemon started against a real API server, and object helpers that
// create Nodes, Services and EndpointSlices and wait for the fake kernel to
// converge. Its code is built with the integration tag only.
package cluster
