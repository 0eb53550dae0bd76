package main

import (
	"io"
	"runtime"
	"strings"

	"github.com/sirupsen/logrus"
	"k8s.io/klog/v2"
)

// routeLogrus sends the logrus lines of the libraries the daemon links
// (moby/ipvs logs through logrus when New cannot run modprobe or resolve
// the IPVS netlink family) to klog, so that they share klog's format,
// verbosity and output instead of logrus's own text on standard error.
func routeLogrus() {
	logrus.SetOutput(io.Discard)
	logrus.SetLevel(logrus.DebugLevel) // klog's -v decides what is shown
	logrus.AddHook(logrusToKlog{})
}

// logrusToKlog writes each logrus entry to klog at the matching severity:
// errors and worse at Error, warnings at Warning, info at -v=2, debug and
// trace at -v=5.
type logrusToKlog struct{}

func (logrusToKlog) Levels() []logrus.Level { return logrus.AllLevels }

func (logrusToKlog) Fire(e *logrus.Entry) error {
	depth := logrusCallerDepth()
	msg := strings.TrimSpace(e.Message)
	kv := []any{"logger", "logrus"}
	for k, v := range e.Data {
		kv = append(kv, k, v)
	}
	switch {
	case e.Level <= logrus.ErrorLevel:
		klog.ErrorSDepth(depth, nil, msg, kv...)
	case e.Level == logrus.WarnLevel:
		klog.WarningDepth(depth, structured(msg, kv...))
	case e.Level == logrus.InfoLevel:
		klog.V(2).InfoSDepth(depth, msg, kv...)
	default:
		klog.V(5).InfoSDepth(depth, msg, kv...)
	}
	return nil
}

// logrusCallerDepth returns the klog depth, counted from Fire, of the
// first caller outside logrus: the library's call that logged, which klog
// then names instead of logrus's internals.
func logrusCallerDepth() int {
	pcs := make([]uintptr, 32)
	n := runtime.Callers(3, pcs) // runtime.Callers, this function, Fire
	frames := runtime.CallersFrames(pcs[:n])
	for depth := 1; ; depth++ {
		f, more := frames.Next()
		if !strings.Contains(f.Function, "github.com/sirupsen/logrus.") {
			return depth
		}
		if !more {
			return 1
		}
	}
}
