package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/alliance/backoffice/api"
	"github.com/alliance/backoffice/db/dbgen"
	"github.com/alliance/backoffice/workflows"
)

type line = map[string]any

func lines(kv ...any) []line {
	var out []line
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, line{"sku": kv[i], "qty": kv[i+1]})
	}
	return out
}

// submit places an order and waits until its workflow has routed it.
func (h *harness) submit(t *testing.T, user, key string, ls []line) api.Order {
	t.Helper()
	var o api.Order
	h.do("POST", "/v1/orders", user, map[string]any{"lines": ls}, "Idempotency-Key", key).expect(t, 202).json(t, &o)
	if o.Pricing == nil || o.Status != "submitted" || o.WorkflowID != workflows.OrderID(o.ID) {
		t.Fatalf("submitted order %+v", o)
	}
	return h.waitOrder(t, user, o.ID, func(o api.Order) bool { return o.Status != "submitted" })
}

func (h *harness) waitOrder(t *testing.T, user, id string, done func(api.Order) bool) api.Order {
	t.Helper()
	return h.waitOrderWithin(t, user, id, 30*time.Second, done)
}

func (h *harness) waitOrderWithin(t *testing.T, user, id string, within time.Duration, done func(api.Order) bool) api.Order {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var o api.Order
		h.do("GET", "/v1/orders/"+id, user, nil).expect(t, 200).json(t, &o)
		if done(o) {
			return o
		}
		if time.Now().After(deadline) {
			t.Fatalf("order %s stuck in %s", id, o.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (h *harness) balance(t *testing.T, wh, sku string) dbgen.InventoryBalance {
	t.Helper()
	b, err := dbgen.New(h.pool).GetBalance(context.Background(), dbgen.GetBalanceParams{WarehouseCode: wh, Sku: sku})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (h *harness) ledgerMatches(t *testing.T) {
	t.Helper()
	bad, err := dbgen.New(h.pool).LedgerMismatches(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Fatalf("balances differ from the ledger: %+v", bad)
	}
}

func (h *harness) postings(t *testing.T, key string) int {
	t.Helper()
	var n int
	if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM inventory_movements WHERE posting_key = $1`, key).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func hasEvent(o api.Order, kind string) bool {
	for _, e := range o.Timeline {
		if e.Kind == kind {
			return true
		}
	}
	return false
}

func decide(h *harness, t *testing.T, user, id string, body map[string]any, status int) api.Order {
	t.Helper()
	var o api.Order
	r := h.do("POST", "/v1/orders/"+id+"/decisions", user, body).expect(t, status)
	if status == 200 {
		r.json(t, &o)
	} else {
		r.problem(t)
	}
	return o
}

func TestStoreOrderAutoApprovedReservedShippedDelivered(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	before := h.balance(t, "WH-EAST", "HY-01")
	// 10 × 134.40 = 1344.00 list; store grade S 10% → 1209.60: under the 5000.00 auto-approval limit.
	o := h.submit(t, storeUser, "o-auto", lines("HY-01", 10))
	if o.Status != "approved" || !o.Reserved || o.Payable.StringFixed(2) != "1209.60" {
		t.Fatalf("order %+v", o)
	}
	for _, k := range []string{"submitted", "check", "routed", "reserved"} {
		if !hasEvent(o, k) {
			t.Errorf("timeline lacks %s: %+v", k, o.Timeline)
		}
	}
	if b := h.balance(t, "WH-EAST", "HY-01"); b.Reserved != before.Reserved+10 || b.OnHand != before.OnHand {
		t.Fatalf("after approval %+v, before %+v", b, before)
	}
	// The warehouse owner reports fulfilment; the buyer cannot.
	h.do("POST", "/v1/orders/"+o.ID+"/fulfilment", storeUser, map[string]any{"stage": "picking"}).expect(t, 403).problem(t)
	h.do("POST", "/v1/orders/"+o.ID+"/fulfilment", agentSouth, map[string]any{"stage": "picking"}).expect(t, 403).problem(t)
	h.do("POST", "/v1/orders/"+o.ID+"/fulfilment", agentEast, map[string]any{"stage": "shipped"}).expect(t, 422).problem(t)
	h.do("POST", "/v1/orders/"+o.ID+"/fulfilment", agentEast, map[string]any{"stage": "delivered"}).expect(t, 409).problem(t)
	h.do("POST", "/v1/orders/"+o.ID+"/fulfilment", agentEast, map[string]any{"stage": "picking"}).expect(t, 200)
	var shipped api.Order
	h.do("POST", "/v1/orders/"+o.ID+"/fulfilment", agentEast, map[string]any{"stage": "shipped", "carrier": "SF Express", "tracking_number": "SF1001"}).expect(t, 200).json(t, &shipped)
	if shipped.Status != "shipped" || shipped.TrackingNumber != "SF1001" {
		t.Fatalf("shipped %+v", shipped)
	}
	if b := h.balance(t, "WH-EAST", "HY-01"); b.Reserved != before.Reserved || b.OnHand != before.OnHand-10 {
		t.Fatalf("after shipping %+v, before %+v", b, before)
	}
	h.do("POST", "/v1/orders/"+o.ID+"/cancel", storeUser, map[string]any{"reason": "too late"}).expect(t, 409).problem(t)
	var done api.Order
	h.do("POST", "/v1/orders/"+o.ID+"/fulfilment", agentEast, map[string]any{"stage": "delivered"}).expect(t, 200).json(t, &done)
	if done.Status != "delivered" {
		t.Fatalf("status %s", done.Status)
	}
	h.do("POST", "/v1/orders/"+o.ID+"/fulfilment", agentEast, map[string]any{"stage": "delivered"}).expect(t, 409).problem(t)
	if n := h.postings(t, "order:"+o.ID+":ship"); n != 1 {
		t.Fatalf("%d ship movements, want 1", n)
	}
	h.ledgerMatches(t)

	// Ops finds it in Temporal by order ID, buyer, region and status.
	found := false
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && !found; time.Sleep(200 * time.Millisecond) {
		res, err := h.tc.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
			Query: fmt.Sprintf(`BoEntity = "order" AND BoKey = %q AND BoBuyer = "ST-EAST-01" AND BoRegion = "EAST" AND BoStatus = "delivered"`, o.ID),
		})
		if err != nil {
			t.Fatal(err)
		}
		found = len(res.Executions) == 1
	}
	if !found {
		t.Fatal("the order workflow is not found by its search attributes")
	}
	recordHistory(t, h.tc, workflows.OrderID(o.ID), "order_auto_delivered.json")
}

func TestStoreOrderOneLevelApprovalByItsAgent(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// 60 × 134.40 × 0.9 = 7257.60: over the store's 5000.00 auto-approval limit.
	o := h.submit(t, storeUser, "o-one", lines("HY-01", 60))
	if o.Status != "pending_approval" || len(o.Approvals) != 1 || o.Approvals[0].Role != "agent" {
		t.Fatalf("order %+v", o)
	}
	var inbox api.List[api.Approval]
	h.do("GET", "/v1/approvals?assigned=me", agentEast, nil).expect(t, 200).json(t, &inbox)
	if len(inbox.Items) != 1 || inbox.Items[0].OrderID != o.ID {
		t.Fatalf("AG-EAST inbox %+v", inbox.Items)
	}
	h.do("GET", "/v1/approvals?assigned=me", agentSouth, nil).expect(t, 200).json(t, &inbox)
	if len(inbox.Items) != 0 {
		t.Fatalf("AG-SOUTH inbox %+v", inbox.Items)
	}
	h.do("GET", "/v1/approvals", agentEast, nil).expect(t, 422).problem(t)
	before := h.balance(t, "WH-EAST", "HY-01")
	decide(h, t, agentSouth, o.ID, map[string]any{"decision": "approve"}, 403)
	decide(h, t, storeUser, o.ID, map[string]any{"decision": "approve"}, 403)
	decide(h, t, hqSales, o.ID, map[string]any{"decision": "approve"}, 403) // not escalated
	decide(h, t, agentEast, o.ID, map[string]any{"decision": "maybe"}, 422)
	if b := h.balance(t, "WH-EAST", "HY-01"); b.Reserved != before.Reserved {
		t.Fatal("refused decisions moved stock")
	}
	a := decide(h, t, agentEast, o.ID, map[string]any{"decision": "approve", "comment": "good customer"}, 200)
	if a.Status != "approved" || a.Approvals[0].Status != "approved" || !hasEvent(a, "decision") {
		t.Fatalf("after approval %+v", a)
	}
	decide(h, t, agentEast, o.ID, map[string]any{"decision": "approve", "step": 1}, 409)
	if b := h.balance(t, "WH-EAST", "HY-01"); b.Reserved != before.Reserved+60 {
		t.Fatalf("reserved %d, want %d", b.Reserved, before.Reserved+60)
	}
	h.ledgerMatches(t)
}

func TestStoreOrderTwoLevelsThenCancelReleasesStock(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// 200 × 134.40 × 0.9 = 24192.00: over the 20000.00 second-approval threshold.
	o := h.submit(t, storeUser, "o-two", lines("HY-01", 200))
	if len(o.Approvals) != 2 || o.Approvals[1].Role != "hq_sales" {
		t.Fatalf("approvals %+v", o.Approvals)
	}
	decide(h, t, agentEast, o.ID, map[string]any{"decision": "approve"}, 200)
	var inbox api.List[api.Approval]
	h.do("GET", "/v1/approvals?assigned=me", hqSales, nil).expect(t, 200).json(t, &inbox)
	if len(inbox.Items) != 1 || inbox.Items[0].Step != 2 {
		t.Fatalf("hq_sales inbox %+v", inbox.Items)
	}
	before := h.balance(t, "WH-EAST", "HY-01")
	a := decide(h, t, hqSales, o.ID, map[string]any{"decision": "approve"}, 200)
	if a.Status != "approved" {
		t.Fatalf("status %s", a.Status)
	}
	if b := h.balance(t, "WH-EAST", "HY-01"); b.Reserved != before.Reserved+200 {
		t.Fatalf("reserved %d", b.Reserved)
	}
	h.do("POST", "/v1/orders/"+o.ID+"/cancel", agentSouth, map[string]any{"reason": "x"}).expect(t, 403).problem(t)
	h.do("POST", "/v1/orders/"+o.ID+"/cancel", storeUser, map[string]any{}).expect(t, 422).problem(t)
	var c api.Order
	h.do("POST", "/v1/orders/"+o.ID+"/cancel", storeUser, map[string]any{"reason": "ordered twice"}).expect(t, 200).json(t, &c)
	if c.Status != "cancelled" || c.Reserved {
		t.Fatalf("cancelled %+v", c)
	}
	if b := h.balance(t, "WH-EAST", "HY-01"); b.Reserved != before.Reserved {
		t.Fatalf("reserved %d after cancel, want %d", b.Reserved, before.Reserved)
	}
	h.do("POST", "/v1/orders/"+o.ID+"/cancel", storeUser, map[string]any{"reason": "again"}).expect(t, 409).problem(t)
	h.ledgerMatches(t)
	recordHistory(t, h.tc, workflows.OrderID(o.ID), "order_two_levels_cancelled.json")
}

func TestOrderOverCreditNeedsFinanceRelease(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// 240 × 142.80 × 0.9 = 30844.80: over the store's 30000.00 credit limit.
	o := h.submit(t, storeUser, "o-credit", lines("HY-02", 240))
	roles := []string{}
	for _, a := range o.Approvals {
		roles = append(roles, a.Role)
	}
	if strings.Join(roles, ",") != "agent,hq_sales,finance" {
		t.Fatalf("approval chain %v", roles)
	}
	decide(h, t, agentEast, o.ID, map[string]any{"decision": "approve"}, 200)
	decide(h, t, hqSales, o.ID, map[string]any{"decision": "approve"}, 200)
	decide(h, t, hqAdmin, o.ID, map[string]any{"decision": "approve"}, 403) // finance's step, not escalated
	f := decide(h, t, finance, o.ID, map[string]any{"decision": "approve", "comment": "released: paid last invoice"}, 200)
	if f.Status != "approved" || !f.Reserved {
		t.Fatalf("after credit release %+v", f)
	}
	h.ledgerMatches(t)
}

func TestOrderRejectedAndShortStockHoldNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	before := h.balance(t, "WH-EAST", "HY-01")
	o := h.submit(t, storeUser, "o-rej", lines("HY-01", 60))
	decide(h, t, agentEast, o.ID, map[string]any{"decision": "reject"}, 422) // a rejection needs a comment
	r := decide(h, t, agentEast, o.ID, map[string]any{"decision": "reject", "comment": "over budget this month"}, 200)
	if r.Status != "rejected" || r.Reserved {
		t.Fatalf("rejected %+v", r)
	}
	decide(h, t, agentEast, o.ID, map[string]any{"decision": "approve"}, 409)
	// Far more than the regional warehouse holds: rejected by the stock check.
	s := h.submit(t, storeUser, "o-short", lines("HY-01", 5000))
	if s.Status != "rejected" || !strings.Contains(s.ClosedReason, "insufficient stock") {
		t.Fatalf("short order %+v", s)
	}
	if b := h.balance(t, "WH-EAST", "HY-01"); b.Reserved != before.Reserved {
		t.Fatalf("reserved %d, want %d", b.Reserved, before.Reserved)
	}
	h.ledgerMatches(t)
}

func TestAgentOrderFromHQTwoSalesApprovers(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// AG-NORTH (grade C: 25% off, auto limit 20000.00, credit 80000.00, quota 150000.00).
	// 400 × 134.40 = 53760.00 − 25% = 40320.00 → above the agent auto limit, under the 300000.00 second threshold.
	o := h.submit(t, "demo-agent-north", "a-1", lines("HY-01", 400))
	if o.Status != "pending_approval" || o.Warehouse != "WH-CENTRAL" || len(o.Approvals) != 1 || o.Approvals[0].Role != "hq_sales" {
		t.Fatalf("agent order %+v", o)
	}
	if o.Pricing.LadderDiscount.StringFixed(2) != "0.00" {
		t.Fatalf("ladder %s on %s", o.Pricing.LadderDiscount, o.Pricing.NetTotal)
	}
	decide(h, t, "demo-agent-north", o.ID, map[string]any{"decision": "approve"}, 403) // not its own
	decide(h, t, hqSales, o.ID, map[string]any{"decision": "approve"}, 200)
	h.do("POST", "/v1/orders/"+o.ID+"/fulfilment", "demo-agent-north", map[string]any{"stage": "picking"}).expect(t, 403).problem(t)
	h.do("POST", "/v1/orders/"+o.ID+"/fulfilment", hqAdmin, map[string]any{"stage": "picking"}).expect(t, 200)
	// Other agents never see it.
	h.do("GET", "/v1/orders/"+o.ID, agentEast, nil).expect(t, 403).problem(t)
	var list api.List[api.Order]
	h.do("GET", "/v1/orders?buyer=AG-NORTH", agentEast, nil).expect(t, 200).json(t, &list)
	if len(list.Items) != 0 {
		t.Fatalf("AG-EAST lists %d AG-NORTH orders", len(list.Items))
	}
	h.do("GET", "/v1/orders?status=picking&region=NORTH", opsUser, nil).expect(t, 200).json(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != o.ID {
		t.Fatalf("ops list %+v", list.Items)
	}
	h.do("GET", "/v1/orders", baUser, nil).expect(t, 403).problem(t)
}

func TestOrderExpiresAfterReminderAndEscalation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if _, err := h.pool.Exec(context.Background(), `UPDATE approval_rules SET reminder_after_s = 1, escalate_after_s = 2, expire_after_s = 4 WHERE order_kind = 'store'`); err != nil {
		t.Fatal(err)
	}
	o := h.submit(t, storeUser, "o-exp", lines("HY-01", 60))
	// After escalation hq_sales sees it in its inbox too.
	esc := h.waitOrder(t, hqSales, o.ID, func(o api.Order) bool { return len(o.Approvals) > 0 && o.Approvals[0].Escalated })
	if !hasEvent(esc, "reminder") || !hasEvent(esc, "escalated") {
		t.Fatalf("timeline %+v", esc.Timeline)
	}
	var inbox api.List[api.Approval]
	h.do("GET", "/v1/approvals?assigned=me", hqSales, nil).expect(t, 200).json(t, &inbox)
	if len(inbox.Items) != 1 || !inbox.Items[0].Escalated {
		t.Fatalf("hq_sales inbox after escalation %+v", inbox.Items)
	}
	exp := h.waitOrder(t, storeUser, o.ID, func(o api.Order) bool { return o.Status != "pending_approval" })
	if exp.Status != "expired" || exp.Reserved || exp.Approvals[0].Status != "expired" {
		t.Fatalf("expired %+v", exp)
	}
	h.ledgerMatches(t)
}

func TestOrderInputAndIdempotency(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	orders := h.count("orders")
	for name, body := range map[string]any{
		"lines[0].qty": map[string]any{"lines": lines("HY-01", 2.5)},
		"lines[1].qty": map[string]any{"lines": lines("HY-01", 1, "HY-02", -3)},
		"lines[0].sku": map[string]any{"lines": lines("NOPE-1", 1)},
		"lines":        map[string]any{"lines": []line{}},
		"buyer":        map[string]any{"lines": lines("HY-01", 1), "buyer": map[string]any{"kind": "agent", "code": "AG-SOUTH"}},
	} {
		p := h.do("POST", "/v1/orders", storeUser, body, "Idempotency-Key", "bad").expect(t, 422).problem(t)
		if p.Errors[0].Field != name {
			t.Errorf("want %s named, got %+v", name, p.Errors)
		}
	}
	// Sun Shield ships in whole cases of 48.
	p := h.do("POST", "/v1/orders", storeUser, map[string]any{"lines": lines("SS-01", 50)}, "Idempotency-Key", "cases").expect(t, 422).problem(t)
	if p.Errors[0].Field != "lines[0].qty" || !strings.Contains(p.Errors[0].Detail, "48") {
		t.Errorf("whole cases: %+v", p.Errors)
	}
	h.do("POST", "/v1/orders", storeUser, map[string]any{"lines": lines("HY-01", 1)}).expect(t, 422).problem(t)
	h.do("POST", "/v1/orders", hqSales, map[string]any{"lines": lines("HY-01", 1)}, "Idempotency-Key", "k").expect(t, 403).problem(t)
	if h.count("orders") != orders {
		t.Fatal("refused orders were recorded")
	}
	first := h.submit(t, storeUser, "same-key", lines("HY-01", 2))
	var again api.Order
	h.do("POST", "/v1/orders", storeUser, map[string]any{"lines": lines("HY-01", 2)}, "Idempotency-Key", "same-key").expect(t, 200).json(t, &again)
	if again.ID != first.ID {
		t.Fatalf("same key gave %s then %s", first.ID, again.ID)
	}
	h.do("POST", "/v1/orders", storeUser, map[string]any{"lines": lines("HY-01", 3)}, "Idempotency-Key", "same-key").expect(t, 409).problem(t)
	if n := h.postings(t, "order:"+first.ID+":reserve"); n != 1 {
		t.Fatalf("%d reservations for one key, want 1", n)
	}
}

func TestQuoteExplainsTheSamePriceAsTheOrder(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	body := map[string]any{"lines": lines("YR-03", 120, "RD-01", 24)}
	var q api.Quote
	h.do("POST", "/v1/pricing/quote", agentEast, body).expect(t, 200).json(t, &q)
	o := h.submit(t, agentEast, "q-1", lines("YR-03", 120, "RD-01", 24))
	if !q.Payable.Equal(o.Payable.Decimal) || !q.NetTotal.Equal(o.NetTotal.Decimal) || len(q.Lines) != 2 {
		t.Fatalf("quote %+v vs order %+v", q, o)
	}
	// YR-03: 468 × 0.9 = 421.20 × 120 = 50544.00; RD-01: 298 × 0.8 = 238.40 × 24 = 5721.60;
	// list 56265.60, grade A 35%: 17690.40 + 2002.56 = 19692.96 → 36572.64, under the first ladder tier (50000.00).
	if q.ListTotal.StringFixed(2) != "56265.60" || q.GradeDiscount.StringFixed(2) != "19692.96" || q.NetTotal.StringFixed(2) != "36572.64" {
		t.Fatalf("quote totals %+v", q)
	}
	if len(q.Steps) == 0 || len(q.Lines[0].Steps) != 2 {
		t.Fatalf("quote does not explain itself: %+v", q)
	}
	h.do("POST", "/v1/pricing/quote", hqSales, body).expect(t, 422).problem(t)
	h.do("POST", "/v1/pricing/quote", hqSales, map[string]any{"lines": lines("YR-03", 120), "buyer": map[string]any{"kind": "agent", "code": "AG-EAST"}}).expect(t, 200)
	h.do("POST", "/v1/pricing/quote", baUser, body).expect(t, 403).problem(t)
}

func TestRoutingRulesAndLadderAreEditableByHQAdmin(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	rules := map[string]any{"second_approval_above": "15000.00", "reminder_after": "12h", "escalate_after": "36h", "expire_after": "60h"}
	h.do("PUT", "/v1/approval-rules/store", hqSales, rules).expect(t, 403).problem(t)
	var r api.ApprovalRules
	h.do("PUT", "/v1/approval-rules/store", hqAdmin, rules).expect(t, 200).json(t, &r)
	if r.EscalateAfter != "36h0m0s" || r.SecondApprovalAbove.StringFixed(2) != "15000.00" {
		t.Fatalf("rules %+v", r)
	}
	bad := map[string]any{"second_approval_above": "15000.00", "reminder_after": "48h", "escalate_after": "36h", "expire_after": "60h"}
	h.do("PUT", "/v1/approval-rules/store", hqAdmin, bad).expect(t, 422).problem(t)
	h.do("PUT", "/v1/approval-rules/shop", hqAdmin, rules).expect(t, 422).problem(t)
	ladder := map[string]any{"tiers": []map[string]any{{"threshold": "1000.00", "discount_pct": "5.00"}}}
	h.do("PUT", "/v1/discount-ladder", agentEast, ladder).expect(t, 403).problem(t)
	h.do("PUT", "/v1/discount-ladder", hqAdmin, ladder).expect(t, 200)
	var q api.Quote
	// 10 × 134.40 × 0.9 = 1209.60 ≥ 1000.00 → 5%: 60.48 → 1149.12.
	h.do("POST", "/v1/pricing/quote", storeUser, map[string]any{"lines": lines("HY-01", 10)}).expect(t, 200).json(t, &q)
	if q.LadderDiscount.StringFixed(2) != "60.48" || q.Payable.StringFixed(2) != "1149.12" {
		t.Fatalf("quote after ladder change %+v", q)
	}
}
