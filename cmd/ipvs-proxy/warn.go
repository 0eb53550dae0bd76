package main

import (
	"fmt"
	"strings"

	"k8s.io/klog/v2"
)

// warn logs a structured message at klog's Warning severity (W lines),
// which klog offers only unstructured: settings ipvs-proxy ignores are
// warnings an operator must see, not information.
func warn(msg string, kv ...any) {
	klog.WarningDepth(1, structured(msg, kv...))
}

// structured formats msg and key/value pairs as klog's text format does
// for InfoS: msg key="string value" key=value.
func structured(msg string, kv ...any) string {
	var b strings.Builder
	b.WriteString(msg)
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, " %v=", kv[i])
		switch v := kv[i+1].(type) {
		case string:
			fmt.Fprintf(&b, "%q", v)
		case error:
			fmt.Fprintf(&b, "%q", v.Error())
		default:
			fmt.Fprintf(&b, "%v", v)
		}
	}
	return b.String()
}
