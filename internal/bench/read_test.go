package bench

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestReadSQLMatchesStore holds the benchmark's copy of the read SQL equal to
// what (*store.Store).readSnapshot runs, statement by statement, so that pgbench
// measures the very queries the API makes.
func TestReadSQLMatchesStore(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join("..", "store", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no store sources: %v", err)
	}
	consts := map[string]string{}
	var body *ast.BlockStmt
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range file.Decls {
			switch d := decl.(type) {
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					vs, ok := spec.(*ast.ValueSpec)
					if !ok || d.Tok != token.CONST {
						continue
					}
					for i, name := range vs.Names {
						if i < len(vs.Values) {
							if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
								consts[name.Name], _ = strconv.Unquote(lit.Value)
							}
						}
					}
				}
			case *ast.FuncDecl:
				if d.Name.Name == "readSnapshot" && d.Recv != nil {
					body = d.Body
				}
			}
		}
	}
	if body == nil {
		t.Fatal("no (*Store).readSnapshot in internal/store")
	}
	// The SQL argument of every Query/QueryRow/Exec call in readSnapshot, in order.
	var got []string
	ast.Inspect(body, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || (sel.Sel.Name != "Query" && sel.Sel.Name != "QueryRow" && sel.Sel.Name != "Exec") || len(call.Args) < 2 {
			return true
		}
		switch a := call.Args[1].(type) {
		case *ast.BasicLit:
			s, _ := strconv.Unquote(a.Value)
			got = append(got, s)
		case *ast.Ident:
			s, ok := consts[a.Name]
			if !ok {
				t.Fatalf("readSnapshot queries %s, which is not a string constant of the store", a.Name)
			}
			got = append(got, s)
		default:
			t.Fatalf("readSnapshot builds a query at %s: the benchmark cannot copy it", fset.Position(a.Pos()))
		}
		return true
	})
	want := []string{readSyncTimesSQL, readSlotsSQL}
	if len(got) != len(want) {
		t.Fatalf("readSnapshot runs %d statements, the benchmark copies %d:\n%q", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("statement %d differs: the store runs\n%s\nthe benchmark copies\n%s", i+1, got[i], want[i])
		}
	}
}

func TestPgbenchScriptSubstitutesParameters(t *testing.T) {
	script := pgbenchScript(readSizes{products: 500, days: 100}, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, want := range []string{`\set p random(1, 500)`, `\set d random(0, 99)`, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;",
		"WHERE s.product_id = :p AND s.date = (date '2027-01-01' + :d::integer)", "ROLLBACK;"} {
		if !strings.Contains(script, want) {
			t.Errorf("script lacks %q:\n%s", want, script)
		}
	}
	if strings.Contains(script, "$") {
		t.Errorf("script keeps a $ parameter:\n%s", script)
	}
	// Back-substituted, the statements are the store's again.
	back := strings.ReplaceAll(strings.ReplaceAll(script, ":p", "$1"), "(date '2027-01-01' + :d::integer)", "$2")
	for _, sql := range []string{readSyncTimesSQL, readSlotsSQL} {
		if !strings.Contains(back, strings.TrimSpace(sql)+";") {
			t.Errorf("script does not hold\n%s", sql)
		}
	}
}
