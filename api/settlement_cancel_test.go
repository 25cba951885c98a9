package api_test

import (
	"context"
	"testing"

	"github.com/alliance/backoffice/api"
	"github.com/alliance/backoffice/internal/auth"
	"github.com/alliance/backoffice/workflows"
)

// One settlement of a period at a time: while an interim waits in review no
// final or other interim starts (the later one would not know what the
// earlier pays). Finance cancels the interim — nothing posted, the workflow
// ends cancelled — and the period is free again; a final is never cancelled.
func TestSettlementsOfAPeriodRunOneAtATimeAndInterimsCancel(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	h.user(t, "finance-2", auth.RoleFinance)
	h.do("POST", "/v1/rebate-programs", finance, map[string]any{"code": "VOL", "name": "Volume", "grade": "C", "effective_from": "2026-01-01",
		"mode": "retroactive", "tiers": []map[string]any{{"from": "0", "rate_pct": "1"}}}).expect(t, 201)
	o := h.submit(t, "demo-agent-north", "cancel-1", lines("HY-01", 400))
	if _, err := h.pool.Exec(ctx, `UPDATE orders SET status = 'delivered', delivered_at = '2026-08-10 10:00+08' WHERE id = $1`, o.ID); err != nil {
		t.Fatal(err)
	}
	h.do("POST", "/v1/settlements", finance, map[string]any{"period": "2026-Q3", "kind": "interim"}).expect(t, 202)
	h.waitSettlement(t, "2026-Q3-interim-1", "review")
	for _, kind := range []string{"final", "interim"} {
		p := h.do("POST", "/v1/settlements", finance, map[string]any{"period": "2026-Q3", "kind": kind}).expect(t, 409).problem(t)
		if want := "settlement 2026-Q3-interim-1 of 2026-Q3 is review"; len(p.Detail) < len(want) || p.Detail[:len(want)] != want {
			t.Fatalf("start of a %s while the interim is in review: %q", kind, p.Detail)
		}
	}
	// Cancelling: finance only, with a reason.
	h.do("POST", "/v1/settlements/2026-Q3-interim-1/cancel", "demo-agent-north", map[string]any{"reason": "x"}).expect(t, 403).problem(t)
	h.do("POST", "/v1/settlements/2026-Q3-interim-1/cancel", hqAdmin, map[string]any{"reason": "x"}).expect(t, 403).problem(t)
	if p := h.do("POST", "/v1/settlements/2026-Q3-interim-1/cancel", finance, map[string]any{}).expect(t, 422).problem(t); !names(p, "reason") {
		t.Fatalf("no reason: %+v", p.Errors)
	}
	var st workflows.SettlementState
	h.do("POST", "/v1/settlements/2026-Q3-interim-1/cancel", finance, map[string]any{"reason": "started before the returns were booked"}).
		expect(t, 200).json(t, &st)
	if st.Status != "cancelled" {
		t.Fatalf("cancelled %+v", st)
	}
	if err := h.tc.GetWorkflow(ctx, workflows.SettlementID("2026-Q3-interim-1"), "").Get(ctx, nil); err != nil {
		t.Fatalf("the cancelled settlement's workflow: %v", err)
	}
	recordHistory(t, h.tc, workflows.SettlementID("2026-Q3-interim-1"), "settlement_interim_cancelled.json")
	h.waitSettlement(t, "2026-Q3-interim-1", "cancelled")
	h.do("POST", "/v1/settlements/2026-Q3-interim-1/cancel", finance, map[string]any{"reason": "again"}).expect(t, 409).problem(t)
	if n := h.count("credit_notes"); n != 0 {
		t.Fatalf("%d notes posted by a cancelled settlement", n)
	}

	// The period is free: the final starts; it cannot be cancelled, and it
	// pays the whole quarter (the cancelled interim paid nothing).
	h.do("POST", "/v1/settlements", finance, map[string]any{"period": "2026-Q3", "kind": "final"}).expect(t, 202)
	h.waitSettlement(t, "2026-Q3", "review")
	h.do("POST", "/v1/settlements/2026-Q3/cancel", finance, map[string]any{"reason": "x"}).expect(t, 409).problem(t)
	h.do("POST", "/v1/settlements/2026-Q3/approval", "finance-2", nil).expect(t, 200)
	s := h.waitSettlement(t, "2026-Q3", "published")
	if s.TotalCredit.StringFixed(2) != "403.20" {
		t.Fatalf("final %+v", s)
	}
	if st := h.statement(t, "2026-Q3", "AG-NORTH"); !st.PaidBefore.IsZero() {
		t.Fatalf("the final counts the cancelled interim as paid: %+v", st)
	}
	var one api.Settlement
	h.do("GET", "/v1/settlements/2026-Q3-interim-1", finance, nil).expect(t, 200).json(t, &one)
	if one.Status != "cancelled" {
		t.Fatalf("interim %+v", one)
	}
	// The period's settlements, newest key first, and filters.
	var list api.List[api.Settlement]
	h.do("GET", "/v1/settlements?period=2026-Q3", opsUser, nil).expect(t, 200).json(t, &list)
	if len(list.Items) != 2 || list.Items[0].ID != "2026-Q3-interim-1" || list.Items[1].ID != "2026-Q3" || list.NextCursor != nil {
		t.Fatalf("settlements %+v", list)
	}
	h.do("GET", "/v1/settlements?status=published&limit=1", finance, nil).expect(t, 200).json(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != "2026-Q3" || list.NextCursor == nil {
		t.Fatalf("published %+v", list)
	}
	h.do("GET", "/v1/settlements?kind=weekly", finance, nil).expect(t, 422).problem(t)
	h.do("GET", "/v1/settlements", "demo-agent-north", nil).expect(t, 403).problem(t)
	// The final's statements, a page at a time.
	var page api.List[api.StatementSummary]
	h.do("GET", "/v1/settlements/2026-Q3/statements?limit=1", finance, nil).expect(t, 200).json(t, &page)
	if len(page.Items) != 1 || page.Items[0].Agent != "AG-NORTH" || page.Items[0].Credit.StringFixed(2) != "403.20" ||
		page.Items[0].NoteNo != "CN-2026-Q3-AG-NORTH-VOL" || page.NextCursor == nil || *page.NextCursor != "AG-NORTH VOL" {
		t.Fatalf("statements page %+v", page)
	}
	h.do("GET", "/v1/settlements/2026-Q3/statements?limit=1&cursor=AG-NORTH%20VOL", finance, nil).expect(t, 200).json(t, &page)
	if len(page.Items) != 0 || page.NextCursor != nil {
		t.Fatalf("second page %+v", page)
	}
	h.do("GET", "/v1/settlements/2026-Q3/statements?cursor=nonsense", finance, nil).expect(t, 422).problem(t)
	h.do("GET", "/v1/settlements/2026-Q9/statements", finance, nil).expect(t, 404).problem(t)
	h.do("GET", "/v1/settlements/2026-Q3/statements", "demo-agent-north", nil).expect(t, 403).problem(t)
}
