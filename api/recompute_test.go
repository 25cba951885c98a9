package api_test

import (
	"context"
	"testing"

	"github.com/alliance/backoffice/api"
	"github.com/alliance/backoffice/internal/auth"
	"github.com/alliance/backoffice/workflows"
)

// Finance recomputes a settlement in review after data arrived late: the
// data points recorded since are taken in, the adjustment line is kept, a
// program that cannot be computed is refused without losing the statements,
// and once approved there is nothing to recompute.
func TestSettlementRecomputedInReview(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	h.user(t, "finance-2", auth.RoleFinance)
	h.do("POST", "/v1/rebate-programs", finance, map[string]any{"code": "VOL", "name": "Volume and data", "grade": "C",
		"effective_from": "2026-01-01", "mode": "retroactive", "tiers": []map[string]any{{"from": "0", "rate_pct": "1"}},
		"data": map[string]any{"rate_pct_per_point": "0.1"}}).expect(t, 201)
	o := h.submit(t, "demo-agent-north", "rc-1", lines("HY-01", 400))
	if _, err := h.pool.Exec(ctx, `UPDATE orders SET status = 'delivered', delivered_at = '2026-08-10 10:00+08' WHERE id = $1`, o.ID); err != nil {
		t.Fatal(err)
	}
	h.do("POST", "/v1/settlements", finance, map[string]any{"period": "2026-Q3", "kind": "final"}).expect(t, 202)
	h.waitSettlement(t, "2026-Q3", "review")
	// 40320.00 × 1% = 403.20, no data points yet; + 50.00 adjusted.
	h.do("POST", "/v1/settlements/2026-Q3/adjustments", finance, map[string]any{"agent": "AG-NORTH", "program": "VOL", "amount": "50.00",
		"reason": "display fixtures"}, "Idempotency-Key", "rc-adj").expect(t, 200)
	if st := h.statement(t, "2026-Q3", "AG-NORTH"); st.Total.StringFixed(2) != "453.20" {
		t.Fatalf("before %+v", st)
	}
	// The stores' data arrives: 10 points = 1% more.
	h.do("POST", "/v1/store-data-points", finance, map[string]any{"period": "2026-Q3", "entries": []map[string]any{
		{"store": "ST-NORTH-01", "metric": "pos_feed", "points": "10"}}}).expect(t, 200)
	h.do("POST", "/v1/settlements/2026-Q3/recompute", "demo-agent-north", nil).expect(t, 403).problem(t)
	h.do("POST", "/v1/settlements/2026-Q3/recompute", hqAdmin, nil).expect(t, 403).problem(t)
	h.do("POST", "/v1/settlements/2026-Q4/recompute", finance, nil).expect(t, 404).problem(t)
	var state workflows.SettlementState
	h.do("POST", "/v1/settlements/2026-Q3/recompute", finance, nil, "Idempotency-Key", "rc-1").expect(t, 200).json(t, &state)
	if state.Status != "review" || state.AgentsDone != 1 || state.AgentsTotal != 1 {
		t.Fatalf("recomputed %+v", state)
	}
	st := h.statement(t, "2026-Q3", "AG-NORTH")
	if st.Total.StringFixed(2) != "856.40" || st.Adjusted.StringFixed(2) != "50.00" || len(st.Lines) != 3 || st.Lines[1].Amount.StringFixed(2) != "403.20" {
		t.Fatalf("after the recompute %+v", st)
	}

	// A program version that cannot be computed: refused, nothing lost.
	if _, err := h.pool.Exec(ctx, `INSERT INTO rebate_programs (code, version, name, grade, rules, effective_from)
		VALUES ('VOL', 2, 'broken', 'C', '{"mode": "weird", "tiers": []}', '2026-01-01')`); err != nil {
		t.Fatal(err)
	}
	h.do("POST", "/v1/settlements/2026-Q3/recompute", finance, nil).expect(t, 422).problem(t)
	if st := h.statement(t, "2026-Q3", "AG-NORTH"); st.Total.StringFixed(2) != "856.40" {
		t.Fatalf("after a refused recompute %+v", st)
	}
	var s api.Settlement
	h.do("GET", "/v1/settlements/2026-Q3", finance, nil).expect(t, 200).json(t, &s)
	if s.Status != "review" {
		t.Fatalf("after a refused recompute %+v", s)
	}
	// Fixed by a new version: 2% from 0, no data bonus.
	h.do("POST", "/v1/rebate-programs", finance, map[string]any{"code": "VOL", "name": "Volume", "grade": "C",
		"effective_from": "2026-01-01", "mode": "retroactive", "tiers": []map[string]any{{"from": "0", "rate_pct": "2"}}}).expect(t, 201)
	h.do("POST", "/v1/settlements/2026-Q3/recompute", finance, nil).expect(t, 200)
	if st := h.statement(t, "2026-Q3", "AG-NORTH"); st.Total.StringFixed(2) != "856.40" || st.ProgramVersion != 3 || len(st.Lines) != 2 {
		t.Fatalf("after the fix %+v", st)
	}
	h.do("POST", "/v1/settlements/2026-Q3/approval", "finance-2", nil).expect(t, 200)
	s = h.waitSettlement(t, "2026-Q3", "published")
	if s.TotalCredit.StringFixed(2) != "856.40" {
		t.Fatalf("published %+v", s)
	}
	h.do("POST", "/v1/settlements/2026-Q3/recompute", finance, nil).expect(t, 409).problem(t)
	if err := h.tc.GetWorkflow(ctx, workflows.SettlementID("2026-Q3"), "").Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	recordHistory(t, h.tc, workflows.SettlementID("2026-Q3"), "settlement_final_recomputed.json")
}
