package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"strings"
)

// family is one metric family as its source defines and registers it.
type family struct {
	name, typ     string
	labels, modes []string
	buckets       []string
	source        string
}

// types maps the constructors of component-base/metrics to the families'
// types. NewDesc belongs to custom collectors: kube-proxy's are nfacct and
// nftables packet counters (their names end in _total).
var types = map[string]string{
	"NewCounter": "counter", "NewCounterVec": "counter", "NewGauge": "gauge", "NewGaugeVec": "gauge",
	"NewGaugeFunc": "gauge", "NewHistogram": "histogram", "NewHistogramVec": "histogram", "NewDesc": "counter",
}

// parseFile returns the families of path's package-level variables that
// the function named register registers, with their modes.
func parseFile(path, register string) ([]family, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, 0)
	if err != nil {
		return nil, err
	}
	consts := map[string]string{}
	vars := map[string]*family{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok {
			continue
		}
		for _, spec := range g.Specs {
			vs, ok := spec.(*ast.ValueSpec)
			if !ok {
				continue
			}
			for i, n := range vs.Names {
				if i >= len(vs.Values) {
					continue
				}
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && g.Tok == token.CONST {
					consts[n.Name], _ = strconv.Unquote(lit.Value)
				}
				if call, ok := vs.Values[i].(*ast.CallExpr); ok {
					if fam, ok := definition(call, consts); ok {
						vars[n.Name] = fam
					}
				}
			}
		}
	}
	var out []family
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Name.Name != register {
			continue
		}
		walkRegistrations(fn.Body, "all", vars, map[string][]string{})
	}
	for _, fam := range vars {
		if len(fam.modes) > 0 {
			out = append(out, *fam)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no family registered by %s", path, register)
	}
	return out, nil
}

// walkRegistrations records the mode of every variable passed to a
// *MustRegister call under n: the case of a switch on the proxy mode
// (ProxyModeIPVS → ipvs), else mode. locals holds the identifiers each
// local variable was built from (c := newCollector(name, desc)).
func walkRegistrations(n ast.Node, mode string, vars map[string]*family, locals map[string][]string) {
	ast.Inspect(n, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.AssignStmt:
			for i, l := range n.Lhs {
				if id, ok := l.(*ast.Ident); ok && i < len(n.Rhs) {
					locals[id.Name] = identifiers(n.Rhs[i:i+1], locals)
				}
			}
		case *ast.CaseClause:
			m := mode
			if len(n.List) == 1 {
				if sel, ok := n.List[0].(*ast.SelectorExpr); ok {
					m = strings.ToLower(strings.TrimPrefix(sel.Sel.Name, "ProxyMode"))
				}
			}
			for _, s := range n.Body {
				walkRegistrations(s, m, vars, locals)
			}
			return false
		case *ast.CallExpr:
			if sel, ok := n.Fun.(*ast.SelectorExpr); ok && strings.HasSuffix(sel.Sel.Name, "MustRegister") {
				for _, id := range identifiers(n.Args, locals) {
					if fam := vars[id]; fam != nil && !contains(fam.modes, mode) {
						fam.modes = append(fam.modes, mode)
					}
				}
			}
		}
		return true
	})
}

// identifiers are the variables named in args, with those passed to a
// collector constructor and those a local variable was built from.
func identifiers(args []ast.Expr, locals map[string][]string) []string {
	var out []string
	for _, a := range args {
		ast.Inspect(a, func(n ast.Node) bool {
			if id, ok := n.(*ast.Ident); ok {
				out = append(out, id.Name)
				out = append(out, locals[id.Name]...)
			}
			return true
		})
	}
	return out
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// definition reads a family from a component-base/metrics constructor call.
func definition(call *ast.CallExpr, consts map[string]string) (*family, bool) {
	var ctor string
	switch fun := call.Fun.(type) {
	case *ast.SelectorExpr: // metrics.NewGaugeVec
		ctor = fun.Sel.Name
	case *ast.Ident: // NewGaugeVec, inside component-base/metrics
		ctor = fun.Name
	}
	if types[ctor] == "" || len(call.Args) == 0 {
		return nil, false
	}
	fam := &family{typ: types[ctor]}
	if ctor == "NewDesc" {
		fam.name = str(call.Args[0], consts)
		if len(call.Args) > 2 {
			fam.labels = strs(call.Args[2], consts)
		}
		return fam, fam.name != ""
	}
	opts, ok := call.Args[0].(*ast.UnaryExpr)
	if !ok {
		return nil, false
	}
	lit, ok := opts.X.(*ast.CompositeLit)
	if !ok {
		return nil, false
	}
	var ns, sub string
	for _, e := range lit.Elts {
		kv := e.(*ast.KeyValueExpr)
		switch kv.Key.(*ast.Ident).Name {
		case "Namespace":
			ns = str(kv.Value, consts)
		case "Subsystem":
			sub = str(kv.Value, consts)
		case "Name":
			fam.name = str(kv.Value, consts)
		case "Buckets":
			for _, b := range buckets(kv.Value) {
				fam.buckets = append(fam.buckets, strconv.FormatFloat(b, 'g', -1, 64))
			}
		}
	}
	for _, p := range []string{sub, ns} {
		if p != "" {
			fam.name = p + "_" + fam.name
		}
	}
	if len(call.Args) > 1 && strings.HasSuffix(ctor, "Vec") {
		fam.labels = strs(call.Args[1], consts)
	}
	return fam, fam.name != ""
}

func str(e ast.Expr, consts map[string]string) string {
	switch e := e.(type) {
	case *ast.BasicLit:
		s, _ := strconv.Unquote(e.Value)
		return s
	case *ast.Ident:
		return consts[e.Name]
	}
	return ""
}

func strs(e ast.Expr, consts map[string]string) []string {
	lit, ok := e.(*ast.CompositeLit)
	if !ok {
		return nil
	}
	var out []string
	for _, x := range lit.Elts {
		out = append(out, str(x, consts))
	}
	return out
}

// buckets evaluates a bucket expression of component-base/metrics.
func buckets(e ast.Expr) []float64 {
	switch e := e.(type) {
	case *ast.CompositeLit:
		var out []float64
		for _, x := range e.Elts {
			out = append(out, number(x))
		}
		return out
	case *ast.CallExpr:
		var fn string
		switch fun := e.Fun.(type) {
		case *ast.SelectorExpr:
			fn = fun.Sel.Name
		case *ast.Ident:
			fn = fun.Name
		}
		switch fn {
		case "MergeBuckets":
			var out []float64
			for _, a := range e.Args {
				out = append(out, buckets(a)...)
			}
			return out
		case "ExponentialBuckets":
			start, factor, n := number(e.Args[0]), number(e.Args[1]), int(number(e.Args[2]))
			out := make([]float64, n) // as prometheus.ExponentialBuckets computes them
			for i := range out {
				out[i] = start
				start *= factor
			}
			return out
		case "LinearBuckets":
			start, width, n := number(e.Args[0]), number(e.Args[1]), int(number(e.Args[2]))
			out := make([]float64, n) // as prometheus.LinearBuckets computes them
			for i := range out {
				out[i] = start
				start += width
			}
			return out
		}
	}
	panic(fmt.Sprintf("unsupported bucket expression %T", e))
}

func number(e ast.Expr) float64 {
	lit, ok := e.(*ast.BasicLit)
	if !ok {
		panic(fmt.Sprintf("unsupported number %T", e))
	}
	f, err := strconv.ParseFloat(lit.Value, 64)
	if err != nil {
		panic(err)
	}
	return f
}
