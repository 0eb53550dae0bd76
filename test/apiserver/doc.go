// Package apiserver runs a real etcd and kube-apiserver on 127.0.0.1 for the
// integration tests, the VM suite and the manifest checks.
//
// The binaries are built from Go modules by build.sh (make k8s-bins) into a
// cache directory; BinDir says where, RequireBinaries makes a test fail in CI and
// skip elsewhere when they are missing. Start then:
//
//	certificates (crypto/x509, in memory) ─► temp dir (PEM files, etcd data, logs)
//	  ─► etcd on two free loopback ports (--unsafe-no-fsync), wait for /health
//	  ─► kube-apiserver on a free loopback port (RBAC, client certificates,
//	     --endpoint-reconciler-type=none, service range in 198.18.0.0/16 and
//	     optionally fd00::/8), wait for /readyz
//	  ─► *Plane: rest.Config and kubeconfig for a system:masters admin
//
// Plane.Restart stops and starts the API server alone on the same port, with the
// same certificates and the same etcd data, so tests can show that an API-server
// outage leaves the data plane as it was. Plane.NewUser issues a client
// certificate for any user and groups, so a test can bind exactly the daemon's
// ClusterRole and run without cluster-admin. Plane.Stop stops the API server
// before etcd: an API server whose etcd is gone hangs in its graceful shutdown.
//
// Nothing here listens anywhere but 127.0.0.1. The service range is inside
// 198.18.0.0/15 because the VM suite sends real packets to service addresses.
package apiserver
