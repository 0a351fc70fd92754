package bench

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"slices"
	"strconv"
	"testing"
	"text/template/parse"
)

// TestProse checks every prose block the code renders against the
// templates: the block exists, the code passes exactly the fields it uses,
// and no block goes unused. The reports run only in real benchmarks, too late
// to find a typo.
func TestProse(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, f := range pkgs["bench"].Files {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 2 {
				return true
			}
			var fn string
			switch f := call.Fun.(type) {
			case *ast.Ident:
				fn = f.Name
			case *ast.SelectorExpr:
				fn = f.Sel.Name
			}
			if fn != "prose" && fn != "proseNote" {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok {
				return true // proseNote passing its name on
			}
			name, _ := strconv.Unquote(lit.Value)
			used[name] = true
			passed := map[string]bool{}
			if m, ok := call.Args[1].(*ast.CompositeLit); ok {
				for _, e := range m.Elts {
					k, _ := strconv.Unquote(e.(*ast.KeyValueExpr).Key.(*ast.BasicLit).Value)
					passed[k] = true
				}
			}
			tmpl := proseTemplates.Lookup(name)
			if tmpl == nil {
				t.Errorf("%s: no prose block %q in templates/", fset.Position(call.Pos()), name)
				return true
			}
			fields := map[string]bool{}
			collectFields(tmpl.Tree.Root, fields)
			if got, want := slices.Sorted(maps.Keys(passed)), slices.Sorted(maps.Keys(fields)); !slices.Equal(got, want) {
				t.Errorf("%s: %s gets fields %v, its block uses %v", fset.Position(call.Pos()), name, got, want)
			}
			return true
		})
	}
	for _, tmpl := range proseTemplates.Templates() {
		if name := tmpl.Name(); !used[name] && tmpl.Tree != nil && !isFile(name) {
			t.Errorf("prose block %q is never rendered", name)
		}
	}
}

func isFile(name string) bool { return name == "" || len(name) > 8 && name[len(name)-8:] == ".md.tmpl" }

func collectFields(n parse.Node, into map[string]bool) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			collectFields(c, into)
		}
	case *parse.ActionNode:
		collectFields(n.Pipe, into)
	case *parse.PipeNode:
		for _, c := range n.Cmds {
			collectFields(c, into)
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			collectFields(a, into)
		}
	case *parse.FieldNode:
		into[n.Ident[0]] = true
	}
}
