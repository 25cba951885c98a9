package api_test

import (
	"bytes"
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alliance/backoffice/activities"
	"github.com/alliance/backoffice/api"
	"github.com/alliance/backoffice/internal/rebate"
)

// retOrder places ST-EAST-01's order of three lines under a 5% ladder from
// 1000.00, auto-approved (payable under the store's 5000.00 limit):
//
//	HY-01 10 × 134.40 = 1344.00 − 10% (grade S) = 1209.60
//	HY-02  7 × 142.80 =  999.60 − 10%           =  899.64
//	RD-02  3 × 253.30 =  759.90 − 10%           =  683.91
//	                                               2793.15 − 5% (139.6575 → 139.66) = 2653.49
//
// The lines' net values (their shares of 2653.49): 1149.1189…, 854.6571…,
// 649.7138… → 1149.11, 854.65, 649.71 (2653.47), the two fens left to the
// largest remainders: 1149.12, 854.66, 649.71.
func (h *harness) retOrder(t *testing.T, key string) api.Order {
	t.Helper()
	h.do("PUT", "/v1/discount-ladder", hqAdmin, map[string]any{"tiers": []map[string]any{{"threshold": "1000.00", "discount_pct": "5.00"}}}).expect(t, 200)
	o := h.submit(t, storeUser, key, lines("HY-01", 10, "HY-02", 7, "RD-02", 3))
	if o.Status != "approved" || o.NetTotal.StringFixed(2) != "2653.49" || len(o.Pricing.Lines) != 3 {
		t.Fatalf("order %s: %s, net %s", o.ID, o.Status, o.NetTotal)
	}
	var got []string
	for _, l := range o.Pricing.Lines {
		got = append(got, l.NetValue.StringFixed(2))
	}
	if strings.Join(got, " ") != "1149.12 854.66 649.71" {
		t.Fatalf("net values %v", got)
	}
	return o
}

// retDeliver has AG-EAST's regional warehouse ship and deliver the order.
func (h *harness) retDeliver(t *testing.T, id string) {
	t.Helper()
	h.do("POST", "/v1/orders/"+id+"/fulfilment", agentEast, map[string]any{"stage": "picking"}).expect(t, 200)
	h.do("POST", "/v1/orders/"+id+"/fulfilment", agentEast, map[string]any{"stage": "shipped", "carrier": "SF Express", "tracking_number": "SF77"}).expect(t, 200)
	var o api.Order
	h.do("POST", "/v1/orders/"+id+"/fulfilment", agentEast, map[string]any{"stage": "delivered"}).expect(t, 200).json(t, &o)
	if o.Status != "delivered" {
		t.Fatalf("order %s is %s", id, o.Status)
	}
}

func (h *harness) retPost(user, id, key string, body any) response {
	h.t.Helper()
	if key == "" {
		return h.do("POST", "/v1/orders/"+id+"/returns", user, body)
	}
	return h.do("POST", "/v1/orders/"+id+"/returns", user, body, "Idempotency-Key", key)
}

func retBody(reason string, ls ...map[string]any) map[string]any {
	return map[string]any{"reason": reason, "lines": ls}
}

func retLines(r api.OrderReturn) string {
	var s []string
	for _, l := range r.Lines {
		s = append(s, strings.Join([]string{strconv.Itoa(int(l.LineNo)), l.SKU, strconv.FormatInt(l.Qty, 10), l.Amount.StringFixed(2)}, ":"))
	}
	return strings.Join(s, " ")
}

// retCounts are the rows a return writes, to prove a refused request wrote nothing.
func (h *harness) retCounts() [3]int {
	return [3]int{h.count("order_returns"), h.count("order_return_lines"), h.count("audit_events")}
}

func TestReturnsPartialThenRestRefusalsAndRetry(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.retOrder(t, "ret-1")
	ok := retBody("damaged in transit", map[string]any{"sku": "HY-01", "qty": 3}, map[string]any{"line_no": 3, "qty": 1})

	// Not delivered yet: 409 saying its status.
	p := h.retPost(finance, o.ID, "r0", ok).expect(t, 409).problem(t)
	if !strings.Contains(p.Detail, "approved") {
		t.Fatalf("409 detail %q does not say the status", p.Detail)
	}
	h.retDeliver(t, o.ID)
	before := h.retCounts()

	// Refused, writing nothing.
	for _, u := range []string{agentEast, storeUser, opsUser, baUser} {
		h.retPost(u, o.ID, "r0", ok).expect(t, 403).problem(t)
	}
	h.retPost(finance, "PO-NOPE", "r0", ok).expect(t, 404).problem(t)
	for _, key := range []string{"", "has space", strings.Repeat("k", 101)} {
		if p := h.retPost(finance, o.ID, key, ok).expect(t, 422).problem(t); len(p.Errors) != 1 || p.Errors[0].Field != "Idempotency-Key" {
			t.Fatalf("key %q: %+v", key, p.Errors)
		}
	}
	for name, c := range map[string]struct {
		body   any
		fields []string
	}{
		"many": {map[string]any{"lines": []map[string]any{
			{"sku": "NOPE-1", "qty": 1},              // not on the order
			{"line_no": 9, "qty": 1},                 // no such line
			{"line_no": 1, "qty": 0},                 // not positive
			{"sku": "HY-02", "qty": 1},               // line 2 …
			{"line_no": 2, "qty": 1},                 // … again
			{"qty": 1},                               // no line named
			{"line_no": 3, "sku": "HY-01", "qty": 1}, // line 3 is RD-02
			{"sku": "HY-01", "qty": 2.5},             // not a whole number
		}}, []string{"lines[0].sku", "lines[1].line_no", "lines[2].qty", "lines[4].line_no", "lines[5].line_no", "lines[6].sku", "lines[7].qty", "reason"}},
		"reason too long": {retBody(strings.Repeat("x", 501), map[string]any{"line_no": 1, "qty": 1}), []string{"reason"}},
		"reason blank":    {retBody("  ", map[string]any{"line_no": 1, "qty": 1}), []string{"reason"}},
		"no lines":        {retBody("x"), []string{"lines"}},
		"201 lines":       {map[string]any{"reason": "x", "lines": slices.Repeat([]map[string]any{{"line_no": 1, "qty": 1}}, 201)}, []string{"lines"}},
		"unknown field":   {retBody("x", map[string]any{"line_no": 1, "qty": 1, "amount": "1.00"}), []string{"lines[0].amount"}},
		// 8 HY-02 of the 7 delivered.
		"over quantity": {retBody("x", map[string]any{"sku": "HY-02", "qty": 8}), []string{"lines[0].qty"}},
	} {
		p := h.retPost(finance, o.ID, "r0", c.body).expect(t, 422).problem(t)
		got := problemFields(p)
		slices.Sort(got)
		if !slices.Equal(got, c.fields) {
			t.Errorf("%s: fields %v, want %v (%+v)", name, got, c.fields, p.Errors)
		}
		if name == "over quantity" && !strings.Contains(p.Errors[0].Detail, "7 of the 7 delivered") {
			t.Errorf("over quantity does not say how many can be returned: %q", p.Errors[0].Detail)
		}
	}
	if got := h.retCounts(); got != before {
		t.Fatalf("refused returns wrote: %v, before %v", got, before)
	}

	// A partial return: 3 of the 10 HY-01, 1149.12 × 3/10 = 344.736 → 344.74;
	// 1 of the 3 RD-02, 649.71 / 3 = 216.57. In all 561.31.
	first := h.retPost(hqSales, o.ID, "r1", ok).expect(t, 201)
	if loc := first.header.Get("Location"); loc != "/v1/orders/"+o.ID+"/returns" {
		t.Fatalf("Location %q", loc)
	}
	var r1 api.OrderReturn
	first.json(t, &r1)
	if r1.Order != o.ID || r1.Amount.StringFixed(2) != "561.31" || retLines(r1) != "1:HY-01:3:344.74 3:RD-02:1:216.57" ||
		r1.Reason != "damaged in transit" || r1.RecordedBy != hqSales || r1.RecordedAt.IsZero() {
		t.Fatalf("return %+v", r1)
	}
	if got, want := h.retCounts(), [3]int{before[0] + 1, before[1] + 2, before[2] + 1}; got != want {
		t.Fatalf("rows after one return %v, want %v", got, want)
	}
	// The same key and body again: the recorded return, 200, nothing written.
	again := h.retPost(hqSales, o.ID, "r1", ok).expect(t, 200)
	if !bytes.Equal(again.body, first.body) {
		t.Fatalf("retry answered\n%s\nnot\n%s", again.body, first.body)
	}
	// The same key with another body or by another user: 409.
	h.retPost(hqSales, o.ID, "r1", retBody("damaged in transit", map[string]any{"sku": "HY-01", "qty": 2}, map[string]any{"line_no": 3, "qty": 1})).expect(t, 409).problem(t)
	h.retPost(hqSales, o.ID, "r1", retBody("crushed", map[string]any{"sku": "HY-01", "qty": 3}, map[string]any{"line_no": 3, "qty": 1})).expect(t, 409).problem(t)
	h.retPost(finance, o.ID, "r1", ok).expect(t, 409).problem(t)
	if got, want := h.retCounts(), [3]int{before[0] + 1, before[1] + 2, before[2] + 1}; got != want {
		t.Fatalf("rows after retries %v, want %v", got, want)
	}

	// The rest of HY-01 (7 of 10) takes exactly what is left: 1149.12 − 344.74 = 804.38.
	var r2 api.OrderReturn
	h.retPost(finance, o.ID, "r2", retBody("rest of the carton", map[string]any{"line_no": 1, "qty": 7})).expect(t, 201).json(t, &r2)
	if r2.Amount.StringFixed(2) != "804.38" || retLines(r2) != "1:HY-01:7:804.38" || r2.RecordedBy != finance {
		t.Fatalf("rest of line 1 %+v", r2)
	}
	p = h.retPost(finance, o.ID, "r3", retBody("x", map[string]any{"sku": "HY-01", "qty": 1})).expect(t, 422).problem(t)
	if len(p.Errors) != 1 || p.Errors[0].Field != "lines[0].qty" || !strings.Contains(p.Errors[0].Detail, "0 of the 10 delivered") {
		t.Fatalf("line 1 returned in full: %+v", p.Errors)
	}
	var qty int64
	var amount string
	if err := h.pool.QueryRow(context.Background(), `SELECT sum(qty), sum(amount)::text FROM order_return_lines WHERE order_id = $1 AND line_no = 1`,
		o.ID).Scan(&qty, &amount); err != nil || qty != 10 || amount != "1149.12" {
		t.Fatalf("line 1 returned %d for %s (%v), want 10 for its net value 1149.12", qty, amount, err)
	}

	// Who sees the returns: as GET /v1/orders/{id}.
	for _, u := range []string{hqAdmin, hqSales, finance, opsUser, storeUser, agentEast} {
		var rs api.OrderReturns
		h.do("GET", "/v1/orders/"+o.ID+"/returns", u, nil).expect(t, 200).json(t, &rs)
		if rs.Order != o.ID || rs.TotalReturned.StringFixed(2) != "1365.69" || len(rs.Items) != 2 ||
			rs.Items[0].ID != r1.ID || retLines(rs.Items[0]) != retLines(r1) || rs.Items[0].RecordedBy != hqSales ||
			rs.Items[1].ID != r2.ID || rs.Items[1].Amount.StringFixed(2) != "804.38" {
			t.Fatalf("%s sees %+v", u, rs)
		}
	}
	h.do("GET", "/v1/orders/"+o.ID+"/returns", agentSouth, nil).expect(t, 403).problem(t)
	h.do("GET", "/v1/orders/"+o.ID+"/returns", baUser, nil).expect(t, 403).problem(t)
	h.do("GET", "/v1/orders/PO-NOPE/returns", finance, nil).expect(t, 404).problem(t)
	h.do("GET", "/v1/orders/"+o.ID+"/returns", "", nil).expect(t, 401).problem(t)
}

// A SKU on two lines of an order must be returned by line_no.
func TestReturnsSKUOnTwoLinesNeedsLineNo(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	// HY-01 2 × 134.40 − 10% = 241.92; HY-03 1 × 151.20 − 10% = 136.08.
	o := h.submit(t, storeUser, "ret-2", lines("HY-01", 2, "HY-03", 1))
	// Orders put a SKU on one line; the schema allows more (free goods,
	// data imported): make line 2 HY-01 too.
	if _, err := h.pool.Exec(ctx, `UPDATE order_lines SET sku = 'HY-01' WHERE order_id = $1 AND line_no = 2`, o.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := h.pool.Exec(ctx, `UPDATE orders SET status = 'delivered', delivered_at = now() WHERE id = $1`, o.ID); err != nil {
		t.Fatal(err)
	}
	p := h.retPost(hqAdmin, o.ID, "a", retBody("x", map[string]any{"sku": "HY-01", "qty": 1})).expect(t, 422).problem(t)
	if len(p.Errors) != 1 || p.Errors[0].Field != "lines[0].line_no" || !strings.Contains(p.Errors[0].Detail, "lines 1, 2") {
		t.Fatalf("ambiguous SKU: %+v", p.Errors)
	}
	var r api.OrderReturn
	h.retPost(hqAdmin, o.ID, "a", retBody("x", map[string]any{"line_no": 2, "sku": "HY-01", "qty": 1})).expect(t, 201).json(t, &r)
	if retLines(r) != "2:HY-01:1:136.08" || r.Amount.StringFixed(2) != "136.08" {
		t.Fatalf("return by line_no %+v", r)
	}
}

// Eight returns of the last three units of a line at once: the order's lock
// lets exactly three through, and the line's returns add up to its net value.
func TestReturnsConcurrentLastUnitsNeverExceedTheLine(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	o := h.retOrder(t, "ret-c")
	h.retDeliver(t, o.ID)
	// 4 of the 7 HY-02: 854.66 × 4/7 = 488.377… → 488.38; 366.28 left for 3.
	var r api.OrderReturn
	h.retPost(hqAdmin, o.ID, "c", retBody("x", map[string]any{"sku": "HY-02", "qty": 4})).expect(t, 201).json(t, &r)
	if r.Amount.StringFixed(2) != "488.38" {
		t.Fatalf("4 of 7: %+v", r)
	}
	users := []string{hqAdmin, hqSales, finance}
	results := make([]response, 8)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = h.retPost(users[i%3], o.ID, "c-"+strconv.Itoa(i), retBody("one unit", map[string]any{"line_no": 2, "qty": 1}))
		}()
	}
	wg.Wait()
	var amounts []string
	for i, res := range results {
		switch res.status {
		case 201:
			var r api.OrderReturn
			res.json(t, &r)
			amounts = append(amounts, r.Amount.StringFixed(2))
		case 422:
			if p := res.problem(t); len(p.Errors) != 1 || p.Errors[0].Field != "lines[0].qty" {
				t.Fatalf("return %d refused with %+v", i, p.Errors)
			}
		default:
			t.Fatalf("return %d: %d %s", i, res.status, res.body)
		}
	}
	// 854.66 / 7 = 122.094… → 122.09 twice; the last unit takes what is
	// left: 366.28 − 244.18 = 122.10.
	slices.Sort(amounts)
	if strings.Join(amounts, " ") != "122.09 122.09 122.10" {
		t.Fatalf("%d returns went through: %v", len(amounts), amounts)
	}
	var qty int64
	var amount string
	if err := h.pool.QueryRow(ctx, `SELECT sum(qty), sum(amount)::text FROM order_return_lines WHERE order_id = $1 AND line_no = 2`,
		o.ID).Scan(&qty, &amount); err != nil || qty != 7 || amount != "854.66" {
		t.Fatalf("line 2 returned %d for %s (%v), want 7 for its net value 854.66", qty, amount, err)
	}
	var rs api.OrderReturns
	h.do("GET", "/v1/orders/"+o.ID+"/returns", storeUser, nil).expect(t, 200).json(t, &rs)
	if len(rs.Items) != 4 || rs.TotalReturned.StringFixed(2) != "854.66" {
		t.Fatalf("returns %+v", rs)
	}
}

// A return recorded through the API before the settlement's returns cut-off
// lowers the agent's volume by its amount: an interim of the current quarter
// (cut-off: when it starts) over an order delivered and returned just before.
func TestReturnThroughAPILowersSettlementVolume(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// Grade C (AG-NORTH): retroactive 1% from 0, 2% from 30,000.00.
	h.do("POST", "/v1/rebate-programs", finance, map[string]any{"code": "VOL", "name": "Volume rebate", "grade": "C", "effective_from": "2026-01-01",
		"mode": "retroactive", "tiers": []map[string]any{{"from": "0", "rate_pct": "1"}, {"from": "30000.00", "rate_pct": "2"}}}).expect(t, 201)
	// 400 × 134.40 − 25% = 40320.00: approved by hq_sales, delivered from HQ.
	o := h.submit(t, "demo-agent-north", "ret-q", lines("HY-01", 400))
	decide(h, t, hqSales, o.ID, map[string]any{"decision": "approve"}, 200)
	h.do("POST", "/v1/orders/"+o.ID+"/fulfilment", hqAdmin, map[string]any{"stage": "picking"}).expect(t, 200)
	h.do("POST", "/v1/orders/"+o.ID+"/fulfilment", hqAdmin, map[string]any{"stage": "shipped", "carrier": "SF Express", "tracking_number": "SF8"}).expect(t, 200)
	h.do("POST", "/v1/orders/"+o.ID+"/fulfilment", hqAdmin, map[string]any{"stage": "delivered"}).expect(t, 200)

	// 100 of the 400 come back: 40320.00 × 100/400 = 10080.00.
	var r api.OrderReturn
	h.retPost(finance, o.ID, "q-1", retBody("broken seals", map[string]any{"sku": "HY-01", "qty": 100})).expect(t, 201).json(t, &r)
	if r.Amount.StringFixed(2) != "10080.00" {
		t.Fatalf("return %+v", r)
	}
	// The buying agent sees its order's returns; another agent does not.
	var rs api.OrderReturns
	h.do("GET", "/v1/orders/"+o.ID+"/returns", "demo-agent-north", nil).expect(t, 200).json(t, &rs)
	if len(rs.Items) != 1 || rs.Items[0].ID != r.ID || rs.TotalReturned.StringFixed(2) != "10080.00" {
		t.Fatalf("AG-NORTH sees %+v", rs)
	}
	h.do("GET", "/v1/orders/"+o.ID+"/returns", agentEast, nil).expect(t, 403).problem(t)
	h.do("GET", "/v1/orders/"+o.ID+"/returns", storeUser, nil).expect(t, 403).problem(t)

	period := rebate.PeriodOf(time.Now().In(activities.SettlementLocation)).Key()
	h.do("POST", "/v1/settlements", finance, map[string]any{"period": period, "kind": "interim"}).expect(t, 202)
	id := period + "-interim-1"
	h.waitSettlement(t, id, "review")
	// 40320.00 − 10080.00 = 30240.00: tier 2, 2% retroactive = 604.80
	// (without the return: 806.40).
	st := h.statement(t, id, "AG-NORTH")
	if !st.Returned.Equal(r.Amount.Decimal) || st.Returns != 1 || st.Delivered.StringFixed(2) != "40320.00" || st.Orders != 1 ||
		st.Volume.StringFixed(2) != "30240.00" || st.Tier != 2 || st.Earned.StringFixed(2) != "604.80" {
		t.Fatalf("statement %+v", st)
	}
}
