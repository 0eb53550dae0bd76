package apiserver

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// newTestPlane returns a Plane with credentials but no processes, serving url.
func newTestPlane(t *testing.T, url string) *Plane {
	t.Helper()
	p := &Plane{dir: t.TempDir(), url: url}
	if err := p.writeCredentials(servingHosts(mustAddr(t, "198.18.0.1"), []string{"198.19.0.2", "api.test"})); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestServingCertificate(t *testing.T) {
	p := newTestPlane(t, "https://127.0.0.1:1")
	cert := readCert(t, filepath.Join(p.dir, servingCert))
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(p.CACert())
	for _, host := range []string{"127.0.0.1", "localhost", "198.18.0.1", "kubernetes.default.svc", "198.19.0.2", "api.test"} {
		opts := x509.VerifyOptions{Roots: roots, DNSName: host, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		if _, err := cert.Verify(opts); err != nil {
			t.Errorf("Serving certificate not valid for %s: %v", host, err)
		}
	}
	opts := x509.VerifyOptions{Roots: roots, DNSName: "192.0.2.1"}
	if _, err := cert.Verify(opts); err == nil {
		t.Errorf("Serving certificate valid for 192.0.2.1, want only the listed hosts")
	}
}

// TestUserAuthenticates checks the whole client chain the API server relies on:
// a server with the plane's serving certificate that requires client
// certificates from the plane's CA sees the user's name and groups, both
// through the rest.Config and through the kubeconfig file.
func TestUserAuthenticates(t *testing.T) {
	p := newTestPlane(t, "")
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(p.CACert())
	servingPair, err := tls.LoadX509KeyPair(filepath.Join(p.dir, servingCert), filepath.Join(p.dir, servingKey))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer := r.TLS.PeerCertificates[0].Subject
		fmt.Fprintf(w, "%s %s", peer.CommonName, strings.Join(peer.Organization, ","))
	}))
	srv.TLS = &tls.Config{
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    roots,
		Certificates: []tls.Certificate{servingPair},
	}
	srv.StartTLS()
	defer srv.Close()
	p.url = srv.URL

	user, err := p.NewUser("system:node:n1", "system:nodes", "test:proxies")
	if err != nil {
		t.Fatal(err)
	}
	fromFile, err := clientcmd.BuildConfigFromFlags("", user.Kubeconfig)
	if err != nil {
		t.Fatalf("Loading %s: %v", user.Kubeconfig, err)
	}
	for name, cfg := range map[string]*rest.Config{"rest.Config": user.Config(), "kubeconfig": fromFile} {
		t.Run(name, func(t *testing.T) {
			if got := get(t, cfg, srv.URL); got != "system:node:n1 system:nodes,test:proxies" {
				t.Errorf("Server saw %q, want the user's name and groups", got)
			}
		})
	}
	if got := user.Config(); got.QPS != clientQPS || got.Burst != clientBurst {
		t.Errorf("QPS/Burst = %v/%v, want %v/%v", got.QPS, got.Burst, clientQPS, clientBurst)
	}
	if got, want := filepath.Base(user.Kubeconfig), "system_node_n1.kubeconfig"; got != want {
		t.Errorf("Kubeconfig file = %s, want %s", got, want)
	}
}

func TestNewUserRejectsBadNames(t *testing.T) {
	p := newTestPlane(t, "https://127.0.0.1:1")
	for _, name := range []string{"", "../x", "a b", "-x"} {
		if _, err := p.NewUser(name); err == nil {
			t.Errorf("NewUser(%q) succeeded, want an error", name)
		}
	}
}

func TestKubeconfigFile(t *testing.T) {
	p := newTestPlane(t, "https://127.0.0.1:6443")
	user, err := p.NewUser("viewer", "g1")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.LoadFromFile(user.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{
		"current": cfg.CurrentContext,
		"server":  cfg.Clusters[cfg.Contexts[cfg.CurrentContext].Cluster].Server,
		"ca":      string(cfg.Clusters["ipvs-proxy-test"].CertificateAuthorityData),
	}
	want := map[string]string{"current": "viewer", "server": "https://127.0.0.1:6443", "ca": string(p.CACert())}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Kubeconfig mismatch (-want +got):\n%s", diff)
	}

	guest := filepath.Join(t.TempDir(), "guest.kubeconfig")
	if err := user.WriteKubeconfig(guest, "https://198.19.0.2:6443"); err != nil {
		t.Fatal(err)
	}
	cfg2, err := clientcmd.BuildConfigFromFlags("", guest)
	if err != nil {
		t.Fatal(err)
	}
	if cfg2.Host != "https://198.19.0.2:6443" || string(cfg2.CertData) != string(user.Config().CertData) {
		t.Errorf("Guest kubeconfig: host %s, same certificate %v; want the given server and the user's certificate",
			cfg2.Host, string(cfg2.CertData) == string(user.Config().CertData))
	}
}

func get(t *testing.T, cfg *rest.Config, url string) string {
	t.Helper()
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("No PEM block in %s", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}
