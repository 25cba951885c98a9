package api_test

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/alliance/backoffice/api"
)

// openAPIDoc is the part of the OpenAPI document the drift test reads.
type openAPIDoc struct {
	OpenAPI  string                          `yaml:"openapi"`
	Security []map[string][]string           `yaml:"security"`
	Paths    map[string]map[string]yaml.Node `yaml:"paths"`
}

type openAPIOperation struct {
	OperationID string                 `yaml:"operationId"`
	Tags        []string               `yaml:"tags"`
	Security    *[]map[string][]string `yaml:"security"`
	Responses   map[string]yaml.Node   `yaml:"responses"`
}

// openAPIMethods are the keys of a path item that are operations (the others
// are parameters, summary, ...).
var openAPIMethods = []string{
	http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete,
	http.MethodOptions, http.MethodHead, http.MethodPatch, http.MethodTrace,
}

var echoParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

// TestOpenAPIMatchesRoutes fails when api/openapi.yaml and the routes the
// server registers drift apart, or the document loses its basic guarantees.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	// Route registration needs no database or Temporal.
	e, err := api.New(api.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	routes := map[string]bool{}
	for _, r := range e.Routes() {
		if !slices.Contains(openAPIMethods, r.Method) { // echo's internal RouteNotFound entries
			continue
		}
		routes[r.Method+" "+echoParam.ReplaceAllString(r.Path, "{$1}")] = true
	}
	if len(routes) == 0 {
		t.Fatal("the server registers no routes")
	}

	var doc openAPIDoc
	if err := yaml.Unmarshal(api.OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.yaml does not parse: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi = %q, want 3.x", doc.OpenAPI)
	}

	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for key, node := range item {
			method := strings.ToUpper(key)
			if !slices.Contains(openAPIMethods, method) {
				continue
			}
			op := method + " " + path
			documented[op] = true
			var o openAPIOperation
			if err := node.Decode(&o); err != nil {
				t.Errorf("%s: %v", op, err)
				continue
			}
			if o.OperationID == "" {
				t.Errorf("%s has no operationId", op)
			}
			if len(o.Tags) == 0 {
				t.Errorf("%s has no tag", op)
			}
			if len(o.Responses) == 0 {
				t.Errorf("%s has no responses", op)
			}
			if !strings.HasPrefix(path, "/v1/") {
				continue
			}
			security := doc.Security
			if o.Security != nil {
				security = *o.Security
			}
			if !requiresAuth(security) {
				t.Errorf("%s has no security requirement", op)
			}
			if _, ok := o.Responses["401"]; !ok {
				t.Errorf("%s does not document 401", op)
			}
		}
	}

	for _, op := range sortedKeys(routes) {
		if !documented[op] {
			t.Errorf("route %s is not in openapi.yaml", op)
		}
	}
	for _, op := range sortedKeys(documented) {
		if !routes[op] {
			t.Errorf("openapi.yaml documents %s, which the server does not route", op)
		}
	}
}

// requiresAuth reports whether a security requirement list demands some
// scheme: not empty, and without an empty (anonymous) alternative.
func requiresAuth(security []map[string][]string) bool {
	if len(security) == 0 {
		return false
	}
	for _, req := range security {
		if len(req) == 0 {
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
