package main

import (
	"bytes"
	"flag"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	"k8s.io/klog/v2"
)

// captureKlog sends klog's output to a buffer at verbosity v until the
// test ends.
func captureKlog(t *testing.T, v string) *bytes.Buffer {
	t.Helper()
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	if err := fs.Parse([]string{"-logtostderr=false", "-alsologtostderr=false", "-stderrthreshold=FATAL", "-v=" + v}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	klog.SetOutputBySeverity("INFO", &buf) // every severity, once
	for _, s := range []string{"WARNING", "ERROR", "FATAL"} {
		klog.SetOutputBySeverity(s, io.Discard)
	}
	t.Cleanup(func() {
		klog.Flush()
		_ = fs.Parse([]string{"-logtostderr=true", "-v=0"})
	})
	return &buf
}

// TestLogrusGoesToKlog: moby/ipvs's logrus lines come out of klog with
// the matching severity, naming the logging call's file, and logrus
// writes nothing of its own.
func TestLogrusGoesToKlog(t *testing.T) {
	buf := captureKlog(t, "2")
	routeLogrus()
	t.Cleanup(func() {
		logrus.StandardLogger().ReplaceHooks(logrus.LevelHooks{})
		logrus.SetOutput(os.Stderr)
		logrus.SetLevel(logrus.InfoLevel)
	})
	if out := logrus.StandardLogger().Out; out != io.Discard {
		t.Errorf("logrus writes to %T, want io.Discard", out)
	}

	logrus.Warnf("Running modprobe ip_vs failed with message: `%s`, error: %v", "", "exit status 1")
	logrus.Error("Could not get ipvs family information from the kernel.")
	logrus.Info("shown at -v=2")
	logrus.Debug("hidden below -v=5")
	klog.Flush()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []struct{ prefix, file, text string }{
		{"W", "logrus_test.go", "Running modprobe ip_vs failed with message: ``, error: exit status 1 logger=\"logrus\""},
		{"E", "logrus_test.go", `"Could not get ipvs family information from the kernel." logger="logrus"`},
		{"I", "logrus_test.go", `"shown at -v=2" logger="logrus"`},
	}
	if len(lines) != len(want) {
		t.Fatalf("klog got %d lines, want %d:\n%s", len(lines), len(want), buf)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w.prefix) || !strings.Contains(lines[i], w.file) || !strings.HasSuffix(lines[i], w.text) {
			t.Errorf("line %d = %q, want severity %s, file %s, ending %q", i, lines[i], w.prefix, w.file, w.text)
		}
	}
}

// TestWarnIsAWarning: ignored settings are klog Warning lines.
func TestWarnIsAWarning(t *testing.T) {
	buf := captureKlog(t, "0")
	warn("Ignored an unsupported setting", "setting", "flag --oom-score-adj is ignored", "count", 2)
	klog.Flush()
	line := strings.TrimSpace(buf.String())
	if !strings.HasPrefix(line, "W") || !strings.Contains(line, "logrus_test.go") ||
		!strings.HasSuffix(line, `Ignored an unsupported setting setting="flag --oom-score-adj is ignored" count=2`) {
		t.Errorf("warn logged %q", line)
	}
}
