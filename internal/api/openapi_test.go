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
		// Every operation says whether it takes credentials: the sync routes
		// a bearer token, the others none (security: []).
		switch {
		case op.Security == nil:
			t.Errorf("route %s: openapi.yaml does not declare its security", rt.pattern())
		case strings.HasPrefix(rt.path, "/api/v1/sync/"):
			if len(*op.Security) != 1 || (*op.Security)[0]["kubernetesBearer"] == nil || op.Responses.Value("401") == nil || op.Responses.Value("403") == nil {
				t.Errorf("route %s: openapi.yaml lacks its bearer security or 401/403 answers", rt.pattern())
			}
		case len(*op.Security) != 0:
			t.Errorf("route %s: openapi.yaml asks credentials of a public route", rt.pattern())
		}
		// The inventory reads revalidate.
		if strings.HasPrefix(rt.path, "/api/v1/experience/") {
			ok := op.Responses.Value("304") != nil
			for _, name := range []string{"If-None-Match", "If-Modified-Since"} {
				ok = ok && op.Parameters.GetByInAndName("header", name) != nil
			}
			if ok200 := op.Responses.Value("200").Value; ok200 == nil || ok200.Headers["ETag"] == nil || ok200.Headers["Last-Modified"] == nil || ok200.Headers["Cache-Control"] == nil {
				ok = false
			}
			if !ok {
				t.Errorf("route %s: openapi.yaml lacks its 304, validators or conditional headers", rt.pattern())
			}
		}
		// Every error is a problem detail.
		for code, resp := range op.Responses.Map() {
			if code < "400" {
				continue
			}
			if c := resp.Value.Content; len(c) != 1 || c.Get("application/problem+json") == nil {
				t.Errorf("route %s: its %s answer is not application/problem+json only", rt.pattern(), code)
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
