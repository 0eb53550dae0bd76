// Command ipvs-proxy replaces kube-proxy (IPVS mode) on a Kubernetes node.
//
//	ipvs-proxy [flags]           the daemon, in place of kube-proxy --proxy-mode=ipvs
//	ipvs-proxy plan -f FILE...   print, offline, the IPVS state a node must have
//
// This package only parses the command line, reads inputs, calls the pure
// core (proxier.Build) and writes results; run returns an exit code, and
// os.Exit is called in main alone, so every command runs in-process in tests.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/ipvs-proxy/ipvs-proxy/internal/gcpace"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and failed: unreadable input, no node
	exitUsage   = 2 // the command line is wrong
)

// streams are a command's standard input, output and error.
type streams struct {
	in       io.Reader
	out, err io.Writer
}

func main() {
	setGC()
	os.Exit(run(os.Args[1:], streams{in: os.Stdin, out: os.Stdout, err: os.Stderr}))
}

// defaultGCPercent is the garbage collector's target unless GOGC is set: the
// heap may grow to 1.5× the live data between collections instead of Go's
// 2×. A node proxy runs on every node, so its peak memory is paid a
// thousand times over; the extra collections cost little CPU because an
// idle proxy allocates little.
const defaultGCPercent = 50

// setGC applies defaultGCPercent unless GOGC is set. Unless GOMEMLIMIT is
// set too, it does so through gcpace, which keeps that heap target without
// the runtime's forced collection every two minutes: at idle those were
// most of the daemon's CPU (internal/gcpace). An operator's GOGC or
// GOMEMLIMIT is left to the runtime as they set it.
func setGC() *gcpace.Pacer {
	if os.Getenv("GOGC") != "" {
		return nil
	}
	if os.Getenv("GOMEMLIMIT") != "" {
		debug.SetGCPercent(defaultGCPercent)
		return nil
	}
	return gcpace.Start(defaultGCPercent)
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(args []string, s streams) int
}

// commands are the subcommands, in the order usage lists them.
var commands = []command{
	{name: "plan", summary: "print the IPVS state a node must have, from Kubernetes objects in files", run: runPlan},
}

// run dispatches to a subcommand and returns the exit code.
func run(args []string, s streams) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return runDaemon(args, s)
	}
	if args[0] == "help" {
		usage(s.out)
		return exitOK
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(args[1:], s)
		}
	}
	fmt.Fprintf(s.err, "ipvs-proxy: unknown command %q\n", args[0])
	usage(s.err)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: ipvs-proxy [flags]           run the proxy (see 'ipvs-proxy --help')\n       ipvs-proxy COMMAND [flags]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-6s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'ipvs-proxy COMMAND --help' for a command's flags.")
}
