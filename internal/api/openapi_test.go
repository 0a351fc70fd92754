package api

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestOpenAPIDescribesEveryRoute: the document is valid OpenAPI 3.1, has an
// operation for every registered route and none for a route that does not
// exist, and every operation documents its errors.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(openAPIDocument)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") || !doc.IsOpenAPI31OrLater() {
		t.Errorf("openapi: %s, want 3.1.x", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the document is not valid OpenAPI 3.1: %v", err)
	}

	routes := (&Server{metrics: newMetrics()}).routes()
	registered := map[string]bool{}
	for _, rt := range routes {
		registered[rt.pattern()] = true
		item := doc.Paths.Value(rt.path)
		if item == nil {
			t.Errorf("route %s: path %s is not in openapi.yaml", rt.pattern(), rt.path)
			continue
		}
		op := item.GetOperation(rt.method)
		if op == nil {
			t.Errorf("route %s: openapi.yaml has no %s operation on %s", rt.pattern(), rt.method, rt.path)
			continue
		}
		if op.Responses.Value("200") == nil || op.Responses.Value("414") == nil {
			t.Errorf("route %s: openapi.yaml lacks its 200 or 414 answer", rt.pattern())
		}
		if strings.HasPrefix(rt.path, "/api/") {
			for _, code := range []string{"400", "404", "500", "503"} {
				if op.Responses.Value(code) == nil {
					t.Errorf("route %s: openapi.yaml lacks its %s answer", rt.pattern(), code)
				}
			}
		}
		if strings.HasPrefix(rt.path, "/api/v1/sync/") {
			if op.Security == nil || len(*op.Security) == 0 || op.Responses.Value("401") == nil || op.Responses.Value("403") == nil {
				t.Errorf("route %s: openapi.yaml lacks its bearer security or 401/403 answers", rt.pattern())
			}
		}
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if !registered[method+" "+path] {
				t.Errorf("openapi.yaml describes %s %s, which the server does not serve", method, path)
			}
		}
	}
	if len(routes) < 8 || !slices.ContainsFunc(routes, func(r route) bool { return r.method == http.MethodPost }) {
		t.Errorf("only %d routes registered", len(routes))
	}
}
