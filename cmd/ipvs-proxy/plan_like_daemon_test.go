package main

import (
	"slices"
	"strings"
	"testing"
)

// planInput is a node, a served service with one ordinary slice and a
// stale slice labelled service.kubernetes.io/headless, and the headless
// slice of a headless service that is not in the input.
const planInput = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Node
  metadata: {name: node-a}
  status:
    addresses: [{type: InternalIP, address: 198.18.128.11}]
- apiVersion: v1
  kind: Service
  metadata: {name: web, namespace: ns}
  spec:
    clusterIP: 198.18.40.10
    clusterIPs: [198.18.40.10]
    ports: [{name: http, port: 80, protocol: TCP}]
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata:
    name: web-1
    namespace: ns
    labels: {kubernetes.io/service-name: web}
  addressType: IPv4
  ports: [{name: http, port: 8080, protocol: TCP}]
  endpoints:
  - addresses: [198.19.1.1]
    conditions: {ready: true}
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata:
    name: web-h
    namespace: ns
    labels: {kubernetes.io/service-name: web, service.kubernetes.io/headless: ""}
  addressType: IPv4
  ports: [{name: http, port: 8080, protocol: TCP}]
  endpoints:
  - addresses: [198.19.1.2]
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata:
    name: db-x7k2p
    namespace: ns
    labels: {kubernetes.io/service-name: db, service.kubernetes.io/headless: ""}
  addressType: IPv4
  ports: [{name: pg, port: 5432, protocol: TCP}]
  endpoints:
  - addresses: [198.19.1.3]
`

// TestPlanLikeTheDaemon: `ipvs-proxy plan` computes what the daemon does
// for the rules of issue 11 points 5 and 6: slices labelled
// service.kubernetes.io/headless are not read (the daemon's informers never
// list them, as kube-proxy's), and --ipvs-scheduler takes any scheduler
// name, mh with kube-proxy's mh-port flag plus the fallback.
func TestPlanLikeTheDaemon(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    []string // lines of stdout
		notWant []string // substrings of stdout and stderr
	}{{
		name:    "headless slices are ignored without a warning",
		want:    []string{"-A -t 198.18.40.10:80 -s rr", "-a -t 198.18.40.10:80 -r 198.19.1.1:8080 -m -w 1"},
		notWant: []string{"198.19.1.2", "198.19.1.3", "db-x7k2p", "unknown service"},
	}, {
		name: "mh gets mh-port, as kube-proxy sets it, and mh-fallback",
		args: []string{"--ipvs-scheduler=mh"},
		want: []string{"-A -t 198.18.40.10:80 -s mh -b mh-fallback,mh-port"},
	}, {
		name: "a scheduler outside kube-proxy's list",
		args: []string{"--ipvs-scheduler=twos"},
		want: []string{"-A -t 198.18.40.10:80 -s twos"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(t, planInput, append([]string{"plan", "-f", "-"}, tc.args...)...)
			if r.code != exitOK {
				t.Fatalf("exit code %d, stderr:\n%s", r.code, r.stderr)
			}
			lines := strings.Split(r.stdout, "\n")
			for _, w := range tc.want {
				if !slices.Contains(lines, w) {
					t.Errorf("stdout lacks line %q:\n%s", w, r.stdout)
				}
			}
			for _, nw := range tc.notWant {
				if strings.Contains(r.stdout+r.stderr, nw) {
					t.Errorf("output contains %q:\n%s\nstderr:\n%s", nw, r.stdout, r.stderr)
				}
			}
		})
	}
}
