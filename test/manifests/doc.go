// Package manifests tests the deployment manifests in manifests/ (kustomize
// base and the kubeadm overlay) against what the daemon and a real
// kube-apiserver accept. Its tests carry the build tag `integration` and need
// the binaries of test/apiserver (make k8s-bins):
//
//	kubectl kustomize manifests ─► typed objects ─┬─► DaemonSet and ClusterRole properties
//	                                              ├─► the containers' args and config.conf,
//	                                              │   parsed by cmd/ipvs-proxy/options
//	                                              └─► kubectl apply (--dry-run=server and
//	                                                  for real) on a real kube-apiserver
//
//	ClusterRole + binding applied ─► daemon.Run as system:serviceaccount:kube-system:ipvs-proxy
//	                                 (impersonated, no cluster-admin) ─► fake kernel converges,
//	                                 Warning events are created and patched
//
// So a schema mistake, a flag the daemon does not know, a probe on the wrong
// port or a missing RBAC verb fails CI rather than a rollout.
package manifests
