package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/spf13/pflag"
	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/options"
	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/snapshot"
	"github.com/ipvs-proxy/ipvs-proxy/proxier"
)

// DummyInterface is the interface service addresses are bound to by
// default, as kube-proxy's IPVS mode names it.
const DummyInterface = "kube-ipvs0"

const planUsage = `Usage: ipvs-proxy plan -f FILE [-f FILE...] [flags]

Reads Services, EndpointSlices and Nodes from files (multi-document YAML,
JSON, or a List as written by 'kubectl get svc,endpointslices,nodes -A -o yaml';
-f - reads standard input, a directory is read for .yaml/.yml/.json files) and
prints the IPVS virtual and real servers, the addresses bound on the dummy
interface (%s) and the netfilter intent one node must have. Needs no root and
touches no kernel. Problems with input objects are printed on standard error,
one per line.

It takes the daemon's flags and --config file, so the command line of a
node's ipvs-proxy or kube-proxy can be previewed as it is; settings that only
change the running daemon (API client, servers, sync periods, sysctls,
actions) are accepted and listed once on standard error.

The node is the Node named by --hostname-override, or the only Node in the
input. Its node IPs are chosen as kube-proxy chooses them: --node-ip, else
its InternalIP then ExternalIP addresses, one per family, --bind-address
replacing its family's. It proxies both IP families unless --host-ipv6=false
(the daemon asks the kernel, as kube-proxy does). The plan cannot read the
node's interfaces: --node-ip, else the Node's InternalIP addresses, and the
node IPs stand for all of the host's addresses. Node ports listen on those
that --nodeport-addresses selects, chosen by the same function as in the
daemon; a service address that is one of them is served but neither bound
nor rejected or firewalled, as on the node. The daemon treats the addresses
of the node's other interfaces the same way; the plan shows them bound.

Flags:
%s`

// planCmd holds the parsed flags of `ipvs-proxy plan`.
type planCmd struct {
	files    []string
	hostIPv6 bool
	opts     options.Options
	// klog are the daemon's logging flags, accepted and ignored.
	klog *flag.FlagSet
}

// runPlan runs `ipvs-proxy plan` and returns the exit code.
func runPlan(args []string, s streams) int {
	var c planCmd
	fs := pflag.NewFlagSet("plan", pflag.ContinueOnError)
	fs.SetOutput(s.err)
	fs.StringArrayVarP(&c.files, "filename", "f", nil, "A file, directory or - (standard input) holding Kubernetes objects; repeatable.")
	fs.BoolVar(&c.hostIPv6, "host-ipv6", true, "Whether the node's kernel has IPv6 enabled: false previews a node that proxies only its primary IP family. "+
		"The daemon reads it from /proc as kube-proxy does; nearly every Linux host has IPv6.")
	c.opts.AddFlags(fs)
	c.klog = flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(c.klog)
	fs.AddGoFlagSet(c.klog)
	fs.Usage = func() { fmt.Fprintf(s.out, planUsage, DummyInterface, fs.FlagUsages()) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(s.err, "ipvs-proxy plan: %v\nRun 'ipvs-proxy plan --help' for usage.\n", err)
		return exitUsage
	}
	if err := c.check(fs); err != nil {
		fmt.Fprintf(s.err, "ipvs-proxy plan: %v\nRun 'ipvs-proxy plan --help' for usage.\n", err)
		return exitUsage
	}
	out, warnings, err := c.plan(fs, s)
	for _, w := range warnings {
		fmt.Fprintln(s.err, w)
	}
	if err != nil {
		fmt.Fprintf(s.err, "ipvs-proxy plan: %v\n", err)
		return exitFailure
	}
	fmt.Fprint(s.out, out)
	return exitOK
}

// check rejects command lines that cannot work.
func (c *planCmd) check(fs *pflag.FlagSet) error {
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: give input files with -f", fs.Arg(0))
	}
	if len(c.files) == 0 {
		return errors.New("no input: give at least one -f FILE (- for standard input)")
	}
	return nil
}

// plan reads the configuration and the objects, builds the node's state and
// returns its dump. Warnings, in order: the settings ignored, configuration,
// input objects, node, then Build's problems; none of them is an error.
func (c *planCmd) plan(fs *pflag.FlagSet, s streams) (string, []string, error) {
	cfg, warnings, err := c.opts.Complete(fs)
	if err != nil {
		return "", warnings, err
	}
	if ignored := c.runtimeOnly(fs); len(ignored) > 0 {
		warnings = append([]string{"plan: ignored (they only change the running daemon): " + strings.Join(ignored, ", ")}, warnings...)
	}
	cfg.HostIPv6 = func() bool { return c.hostIPv6 }
	snap, w, err := snapshot.ReadFiles(c.files, s.in)
	warnings = append(warnings, w...)
	if err != nil {
		return "", warnings, err
	}
	n, err := selectNode(snap.Nodes, cfg.HostnameOverride(), len(cfg.NodeIPs) > 0 || cfg.BindIP.IsValid())
	if err != nil {
		return "", warnings, err
	}
	name := cfg.HostnameOverride()
	if n != nil {
		name = n.Name
	}
	// The node's HostIPs and NodePortIPs stand for what the daemon reads
	// from the host's interfaces (see planUsage).
	node, w, err := cfg.Node(name, n)
	warnings = append(warnings, w...)
	if err != nil {
		return "", warnings, err
	}
	state, problems := proxier.Build(snap.Services, snap.EndpointSlices, node, cfg.Proxier())
	for _, p := range problems {
		warnings = append(warnings, p.String())
	}
	return state.Dump(cfg.DummyInterface), warnings, nil
}

// runtimeOnly lists the settings given that change only the running
// daemon: those options reports, and the logging flags.
func (c *planCmd) runtimeOnly(fs *pflag.FlagSet) []string {
	out := c.opts.RuntimeOnly()
	c.klog.VisitAll(func(f *flag.Flag) {
		if fs.Changed(f.Name) {
			out = append(out, "--"+f.Name)
		}
	})
	return out
}

// selectNode picks the Node the plan is for: the one named name, or the only
// one when name is empty. It returns nil, nil when the input has no Node but
// name is given and the addresses come from flags (haveIPs).
func selectNode(nodes []*v1.Node, name string, haveIPs bool) (*v1.Node, error) {
	names := make([]string, 0, len(nodes))
	for _, n := range nodes {
		if name != "" && n.Name == name {
			return n, nil
		}
		names = append(names, n.Name)
	}
	switch {
	case name == "" && len(nodes) == 1:
		return nodes[0], nil
	case name == "" && len(nodes) == 0:
		return nil, errors.New("the input has no Node: name the node with --hostname-override and give its addresses with --node-ip")
	case name == "":
		return nil, fmt.Errorf("the input has %d Nodes (%s): choose one with --hostname-override", len(nodes), strings.Join(names, ", "))
	case len(nodes) > 0:
		return nil, fmt.Errorf("no Node named %q in the input; it has %s", name, strings.Join(names, ", "))
	case !haveIPs:
		return nil, fmt.Errorf("the input has no Node %q: give its addresses with --node-ip", name)
	}
	return nil, nil
}
