package apiserver

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Client rate limits of every generated config: client-go's defaults (5 QPS,
// burst 10) would throttle tests that create thousands of objects.
const (
	clientQPS   = 1000
	clientBurst = 2000
)

// User is a client identity of the plane: a client certificate whose CN is the
// user name and whose O entries are the groups.
type User struct {
	Name   string
	Groups []string
	// Kubeconfig is the path of a self-contained kubeconfig for this user.
	Kubeconfig string
	config     *rest.Config
	cert       keyPair
	caPEM      []byte
}

// Config returns a new rest.Config for the user, with QPS and Burst raised.
func (u *User) Config() *rest.Config { return rest.CopyConfig(u.config) }

// WriteKubeconfig writes a self-contained kubeconfig for the user that points
// at server instead of the plane's loopback URL: a VM guest reaches the API
// server through a forwarded address, which must be in Options.ExtraSANs.
func (u *User) WriteKubeconfig(path, server string) error {
	if err := clientcmd.WriteToFile(*kubeconfig(server, u.caPEM, u.Name, u.cert), path); err != nil {
		return fmt.Errorf("writing kubeconfig of %q: %w", u.Name, err)
	}
	return nil
}

var (
	userNameRE   = regexp.MustCompile(`^[A-Za-z0-9][-A-Za-z0-9_.:@]*$`)
	unsafeFileRE = regexp.MustCompile(`[^A-Za-z0-9_.@-]`)
)

// NewUser issues a client certificate for name in groups and writes a
// kubeconfig for it to users/NAME.kubeconfig. The user has no permissions
// beyond what RBAC grants its name or groups: bind a ClusterRole to it to test
// exactly that role. Issuing the same name again replaces its kubeconfig.
func (p *Plane) NewUser(name string, groups ...string) (*User, error) {
	if !userNameRE.MatchString(name) {
		return nil, fmt.Errorf("user name %q: want letters, digits and -_.:@", name)
	}
	cert, err := p.ca.issueClient(name, groups)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(p.dir, "users")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating users directory: %w", err)
	}
	u := &User{
		Name:       name,
		Groups:     append([]string(nil), groups...),
		Kubeconfig: filepath.Join(dir, fileName(name)+".kubeconfig"),
		cert:       cert,
		caPEM:      p.caPEM,
		config: &rest.Config{
			Host: p.url,
			TLSClientConfig: rest.TLSClientConfig{
				CAData: p.caPEM, CertData: cert.CertPEM, KeyData: cert.KeyPEM,
			},
			QPS:   clientQPS,
			Burst: clientBurst,
		},
	}
	if err := u.WriteKubeconfig(u.Kubeconfig, p.url); err != nil {
		return nil, err
	}
	return u, nil
}

// Config returns a new rest.Config of the system:masters admin.
func (p *Plane) Config() *rest.Config { return p.admin.Config() }

// kubeconfig builds a one-cluster, one-user kubeconfig with embedded data, so
// it still works when copied elsewhere (into a VM's initramfs).
func kubeconfig(server string, caPEM []byte, user string, cert keyPair) *clientcmdapi.Config {
	const cluster = "ipvs-proxy-test"
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[cluster] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: cert.CertPEM, ClientKeyData: cert.KeyPEM}
	cfg.Contexts[user] = &clientcmdapi.Context{Cluster: cluster, AuthInfo: user}
	cfg.CurrentContext = user
	return cfg
}

// fileName maps a user name to a file name (system:node:x has colons).
func fileName(user string) string {
	return unsafeFileRE.ReplaceAllString(user, "_")
}
