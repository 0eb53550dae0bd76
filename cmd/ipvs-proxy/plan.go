package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	v1 "k8s.io/api/core/v1"

	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/options"
	"github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/snapshot"
	"github.com/ipvs-proxy/ipvs-proxy/proxier"
)

// DummyInterface is the interface service addresses are bound to, as
// kube-proxy's IPVS mode names it.
const DummyInterface = "kube-ipvs0"

const planUsage = `Usage: ipvs-proxy plan -f FILE [-f FILE...] [flags]

Reads Services, EndpointSlices and Nodes from files (multi-document YAML,
JSON, or a List as written by 'kubectl get svc,endpointslices,nodes -A -o yaml';
-f - reads standard input, a directory is read for .yaml/.yml/.json files) and
prints the IPVS virtual and real servers, the addresses bound on %s and the
netfilter intent one node must have. Needs no root and touches no kernel.
Problems with input objects are printed on standard error, one per line.

The node is the Node named by --hostname-override, or the only Node in the
input; its addresses are --node-ip, else its InternalIP addresses. The plan
cannot read the node's interfaces, so these stand for all of the host's
addresses: a service address that is one of them is served but neither bound
on %s nor rejected or firewalled, as on the node. The daemon treats the
addresses of the node's other interfaces the same way; the plan shows them
bound.

Flags:
%s`

// planCmd holds the parsed flags of `ipvs-proxy plan`.
type planCmd struct {
	files []string
	opts  options.Options
}

// runPlan runs `ipvs-proxy plan` and returns the exit code.
func runPlan(args []string, s streams) int {
	var c planCmd
	fs := pflag.NewFlagSet("plan", pflag.ContinueOnError)
	fs.SetOutput(s.err)
	fs.StringArrayVarP(&c.files, "filename", "f", nil, "A file, directory or - (standard input) holding Kubernetes objects; repeatable.")
	c.opts.AddFlags(fs)
	fs.Usage = func() { fmt.Fprintf(s.out, planUsage, DummyInterface, DummyInterface, fs.FlagUsages()) }
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
// returns its dump. Warnings, in order: configuration, input objects, node,
// then Build's problems; none of them is an error.
func (c *planCmd) plan(fs *pflag.FlagSet, s streams) (string, []string, error) {
	cfg, warnings, err := c.opts.Complete(fs)
	if err != nil {
		return "", warnings, err
	}
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
	node, w, err := cfg.Node(name, n)
	warnings = append(warnings, w...)
	if err != nil {
		return "", warnings, err
	}
	// The daemon lists the host's addresses on its interfaces; the plan
	// knows only the node IPs.
	node.HostIPs = slices.Clone(node.IPs)
	state, problems := proxier.Build(snap.Services, snap.EndpointSlices, node, cfg.Proxier())
	for _, p := range problems {
		warnings = append(warnings, p.String())
	}
	return state.Dump(DummyInterface), warnings, nil
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
