package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/alliance/backoffice/api"
	"github.com/alliance/backoffice/internal/auth"
)

func TestEveryDemoTokenWorksForItsRole(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	want := map[string]auth.Role{
		hqAdmin: auth.RoleHQAdmin, hqSales: auth.RoleHQSales, finance: auth.RoleFinance, agentEast: auth.RoleAgent,
		storeUser: auth.RoleStore, baUser: auth.RoleBA, opsUser: auth.RoleOps,
	}
	for user, role := range want {
		var p auth.Principal
		h.do("GET", "/v1/me", user, nil).expect(t, 200).json(t, &p)
		if p.Role != role || p.Name != user {
			t.Errorf("%s: /v1/me = %+v, want role %s", user, p, role)
		}
	}
	var ba auth.Principal
	h.do("GET", "/v1/me", baUser, nil).json(t, &ba)
	if ba.BA != "BA-001" || ba.Store == "" || ba.Agent != "AG-EAST" {
		t.Errorf("BA scope = %+v, want BA-001 in an AG-EAST store", ba)
	}
}

func TestAuthenticationIsRequired(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, hdr := range []string{"", "Bearer", "Bearer bo_notarealtoken", "Basic abc", "bo_x"} {
		r := h.do("GET", "/v1/products", "", nil, "Authorization", hdr)
		r.expect(t, 401).problem(t)
		if r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%q: no WWW-Authenticate header", hdr)
		}
	}
	h.do("GET", "/healthz", "", nil).expect(t, 200)
	h.do("GET", "/readyz", "", nil).expect(t, 200)
	h.do("GET", "/openapi.yaml", "", nil).expect(t, 200)
	m := h.do("GET", "/metrics", "", nil).expect(t, 200)
	if !strings.Contains(string(m.body), "backoffice_http_requests_total") {
		t.Errorf("/metrics lacks the HTTP request counter")
	}
	h.do("GET", "/v1/nope", hqAdmin, nil).expect(t, 404).problem(t)
}

func TestProductLifecycle(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	body := map[string]any{"sku": "NEW-01", "name": "Night Serum", "series": "Youth Repair",
		"list_price": "399.90", "case_size": 12, "launch_date": "2026-11-01"}
	r := h.do("POST", "/v1/products", hqAdmin, body).expect(t, 201)
	var p api.Product
	r.json(t, &p)
	if p.ListPrice.String() != "399.9" || r.header.Get("Location") != "/v1/products/NEW-01" {
		t.Fatalf("created %+v at %q", p, r.header.Get("Location"))
	}
	if !strings.Contains(string(r.body), `"list_price":"399.90"`) {
		t.Errorf("money must be a two-decimal string: %s", r.body)
	}
	h.do("POST", "/v1/products", hqAdmin, body).expect(t, 409).problem(t)
	h.do("PATCH", "/v1/products/NEW-01", hqAdmin, map[string]any{"list_price": "420.00", "active": false}).expect(t, 200).json(t, &p)
	if p.ListPrice.String() != "420" || p.Active {
		t.Fatalf("after patch: %+v", p)
	}
	h.do("PATCH", "/v1/products/NOPE", hqAdmin, map[string]any{"name": "x"}).expect(t, 404).problem(t)
	// Only hq_admin changes the catalogue; everyone reads it.
	for _, u := range []string{hqSales, finance, agentEast, storeUser, baUser, opsUser} {
		h.do("PATCH", "/v1/products/NEW-01", u, map[string]any{"name": "hijack"}).expect(t, 403).problem(t)
		h.do("GET", "/v1/products/NEW-01", u, nil).expect(t, 200)
	}
	var audits int
	if err := h.pool.QueryRow(t.Context(), `SELECT count(*) FROM audit_events WHERE entity = 'product' AND entity_key = 'NEW-01'`).Scan(&audits); err != nil {
		t.Fatal(err)
	}
	if audits != 2 {
		t.Fatalf("%d audit events for NEW-01, want 2 (create, update)", audits)
	}
}

func TestListsFilterAndPage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var page api.List[api.Product]
	h.do("GET", "/v1/products?series=Sun+Shield&limit=5", opsUser, nil).expect(t, 200).json(t, &page)
	if len(page.Items) != 5 || page.NextCursor == nil {
		t.Fatalf("first page: %d items, cursor %v", len(page.Items), page.NextCursor)
	}
	seen := map[string]bool{}
	for _, p := range page.Items {
		seen[p.SKU] = true
	}
	var next api.List[api.Product]
	h.do("GET", "/v1/products?series=Sun+Shield&limit=5&cursor="+*page.NextCursor, opsUser, nil).expect(t, 200).json(t, &next)
	for _, p := range next.Items {
		if seen[p.SKU] || p.Series != "Sun Shield" {
			t.Errorf("second page repeats or strays: %+v", p)
		}
		seen[p.SKU] = true
	}
	if len(seen) != 8 {
		t.Fatalf("%d Sun Shield SKUs over two pages, want 8", len(seen))
	}
	var stores api.List[api.Store]
	h.do("GET", "/v1/stores?agent=AG-SOUTH&kind=collection", hqSales, nil).expect(t, 200).json(t, &stores)
	if len(stores.Items) != 2 {
		t.Fatalf("AG-SOUTH collection stores = %d, want 2", len(stores.Items))
	}
	for _, q := range []string{"limit=0", "limit=501", "limit=x", "active=maybe", "kind=kiosk"} {
		h.do("GET", "/v1/stores?"+q, hqSales, nil).expect(t, 422).problem(t)
	}
}

func TestScopeIsEnforced(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// An agent sees its own agent record, stores, BAs and warehouses plus HQ's warehouses.
	h.do("GET", "/v1/agents/AG-EAST", agentEast, nil).expect(t, 200)
	h.do("GET", "/v1/agents/AG-SOUTH", agentEast, nil).expect(t, 403).problem(t)
	h.do("GET", "/v1/warehouses/WH-SOUTH", agentEast, nil).expect(t, 403).problem(t)
	h.do("GET", "/v1/warehouses/WH-CENTRAL", agentEast, nil).expect(t, 200)
	h.do("GET", "/v1/stores/ST-SOUTH-01", agentEast, nil).expect(t, 403).problem(t)
	h.do("GET", "/v1/bas/BA-030", agentEast, nil).expect(t, 403).problem(t)

	var whs api.List[api.Warehouse]
	h.do("GET", "/v1/warehouses", agentEast, nil).expect(t, 200).json(t, &whs)
	for _, w := range whs.Items {
		if w.OwnerKind == "agent" && *w.OwnerAgentCode != "AG-EAST" {
			t.Errorf("AG-EAST sees %s of %s", w.Code, *w.OwnerAgentCode)
		}
	}
	if len(whs.Items) != 5 {
		t.Errorf("AG-EAST sees %d warehouses, want 5 (3 HQ + 2 own)", len(whs.Items))
	}
	var agents api.List[api.Agent]
	h.do("GET", "/v1/agents", agentEast, nil).expect(t, 200).json(t, &agents)
	if len(agents.Items) != 1 || agents.Items[0].Code != "AG-EAST" {
		t.Errorf("AG-EAST lists agents %+v, want only itself", agents.Items)
	}
	var stores api.List[api.Store]
	h.do("GET", "/v1/stores", storeUser, nil).expect(t, 200).json(t, &stores)
	if len(stores.Items) != 1 || stores.Items[0].Code != "ST-EAST-01" {
		t.Errorf("store lists %+v, want only itself", stores.Items)
	}
	var bas api.List[api.BA]
	h.do("GET", "/v1/bas", baUser, nil).expect(t, 200).json(t, &bas)
	if len(bas.Items) != 1 || bas.Items[0].Code != "BA-001" {
		t.Errorf("BA lists %+v, want only itself", bas.Items)
	}

	// Changes outside scope are refused and write nothing.
	before := h.count("audit_events")
	h.do("PATCH", "/v1/stores/ST-SOUTH-01", agentEast, map[string]any{"name": "mine now"}).expect(t, 403).problem(t)
	h.do("PATCH", "/v1/stores/ST-EAST-01", agentEast, map[string]any{"agent_code": "AG-SOUTH"}).expect(t, 403).problem(t)
	h.do("POST", "/v1/stores", agentEast, map[string]any{"code": "ST-X", "name": "x", "agent_code": "AG-SOUTH", "region": "SOUTH", "kind": "collection"}).expect(t, 403).problem(t)
	h.do("POST", "/v1/bas", agentEast, map[string]any{"code": "BA-X", "name": "x", "store_code": "ST-SOUTH-01"}).expect(t, 403).problem(t)
	h.do("POST", "/v1/bas", storeUser, map[string]any{"code": "BA-X", "name": "x", "store_code": "ST-EAST-02"}).expect(t, 403).problem(t)
	h.do("PUT", "/v1/grade-policies/A", agentEast, map[string]any{"discount_pct": "99"}).expect(t, 403).problem(t)
	h.do("GET", "/v1/grade-policies/B", agentEast, nil).expect(t, 403).problem(t)
	h.do("GET", "/v1/grade-policies/A", agentEast, nil).expect(t, 200)
	if after := h.count("audit_events"); after != before {
		t.Fatalf("refused requests wrote %d audit events", after-before)
	}
	var st api.Store
	h.do("GET", "/v1/stores/ST-SOUTH-01", hqSales, nil).expect(t, 200).json(t, &st)
	if st.Name == "mine now" || st.AgentCode != "AG-SOUTH" {
		t.Fatalf("store changed by a refused request: %+v", st)
	}

	// Within scope, the same calls work.
	h.do("POST", "/v1/stores", agentEast, map[string]any{"code": "ST-EAST-99", "name": "New store", "region": "EAST", "kind": "single_brand"}).expect(t, 201)
	h.do("POST", "/v1/bas", storeUser, map[string]any{"code": "BA-900", "name": "New BA"}).expect(t, 201)
	h.do("GET", "/v1/bas/BA-900", agentEast, nil).expect(t, 200)
}

func TestBadInputIsRefusedPrecisely(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	valid := func() map[string]any {
		return map[string]any{"sku": "BAD-01", "name": "x", "series": "s", "list_price": "10.00", "case_size": 6, "launch_date": "2026-01-01"}
	}
	with := func(k string, v any) map[string]any {
		m := valid()
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name   string
		body   any
		status int
		field  string
	}{
		{"malformed JSON", `{"sku": "BAD-01",`, 400, ""},
		{"not an object", `[1,2]`, 400, ""},
		{"two values", `{"sku":"A"} {"sku":"B"}`, 400, ""},
		{"empty body", ``, 400, ""},
		{"unknown field", with("colour", "red"), 422, "colour"},
		{"money abc", with("list_price", "abc"), 422, "list_price"},
		{"money 1e400", with("list_price", "1e400"), 422, "list_price"},
		{"money too many decimals", with("list_price", "10.005"), 422, "list_price"},
		{"money as a number", with("list_price", 10.5), 422, "list_price"},
		{"money negative", with("list_price", "-1.00"), 422, "list_price"},
		{"money zero", with("list_price", "0"), 422, "list_price"},
		{"money too large", with("list_price", "12345678901234.00"), 422, "list_price"},
		{"negative case size", with("case_size", -6), 422, "case_size"},
		{"fractional case size", with("case_size", 1.5), 422, "case_size"},
		{"case size as text", with("case_size", "6"), 422, "case_size"},
		{"missing name", with("name", nil), 422, "name"},
		{"bad sku", with("sku", "bad sku!"), 422, "sku"},
		{"bad date", with("launch_date", "2026-13-01"), 422, "launch_date"},
		{"active on create", with("active", false), 422, "active"},
	}
	before := h.count("products")
	for _, tc := range cases {
		r := h.do("POST", "/v1/products", hqAdmin, tc.body)
		if r.status != tc.status {
			t.Errorf("%s: status %d, want %d (%s)", tc.name, r.status, tc.status, r.body)
			continue
		}
		p := r.problem(t)
		if tc.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != tc.field) {
			t.Errorf("%s: errors %+v, want field %q named", tc.name, p.Errors, tc.field)
		}
	}
	r := h.do("POST", "/v1/products", hqAdmin, "sku=x", "Content-Type", "text/plain")
	r.expect(t, http.StatusUnsupportedMediaType).problem(t)
	// Several bad fields are all named at once.
	r = h.do("POST", "/v1/products", hqAdmin, map[string]any{"sku": "", "list_price": "x", "case_size": 0})
	if p := r.expect(t, 422).problem(t); len(p.Errors) < 5 {
		t.Errorf("want every bad field named, got %+v", p.Errors)
	}
	// A reference to a missing row names the field.
	r = h.do("POST", "/v1/agents", hqSales, map[string]any{"code": "AG-NEW", "name": "x", "grade": "A", "region": "MARS"})
	if p := r.expect(t, 422).problem(t); len(p.Errors) != 1 || p.Errors[0].Field != "region" {
		t.Errorf("missing region: %+v", p.Errors)
	}
	h.do("PUT", "/v1/grade-policies/Z", hqSales, map[string]any{"discount_pct": "101", "monthly_order_quota": "1", "credit_limit_default": "1", "auto_approval_limit": "1", "return_ratio_cap_pct": "1"}).expect(t, 422).problem(t)
	if after := h.count("products"); after != before {
		t.Fatalf("refused requests created %d products", after-before)
	}
	if n := h.count("agents"); n != 3 {
		t.Fatalf("%d agents, want the 3 seeded", n)
	}
}

func TestEmptyValuesInPatchNameTheField(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for path, body := range map[string]map[string]any{
		"/v1/channels/CS":        {"name": ""},
		"/v1/products/HY-01":     {"series": "  "},
		"/v1/stores/ST-EAST-01":  {"kind": ""},
		"/v1/warehouses/WH-EAST": {"channel_code": ""},
	} {
		field := ""
		for k := range body {
			field = k
		}
		p := h.do("PATCH", path, hqAdmin, body).expect(t, 422).problem(t)
		if len(p.Errors) != 1 || p.Errors[0].Field != field {
			t.Errorf("PATCH %s %v: errors %+v, want %s named", path, body, p.Errors, field)
		}
	}
	p := h.do("PUT", "/v1/grade-policies/A-1", hqAdmin, map[string]any{"discount_pct": "1", "monthly_order_quota": "1", "credit_limit_default": "1", "auto_approval_limit": "1", "return_ratio_cap_pct": "1"}).expect(t, 422).problem(t)
	if p.Errors[0].Field != "grade" {
		t.Errorf("bad grade: %+v", p.Errors)
	}
}
