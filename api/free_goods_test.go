package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/alliance/backoffice/api"
)

// orderLineValues is what order_lines hold for an order — what returns are
// valued from and the rebate volume adds up: the number of lines and the sum
// of their net values.
func (h *harness) orderLineValues(t *testing.T, id string) (int, decimal.Decimal) {
	t.Helper()
	var n int
	var sum decimal.Decimal
	if err := h.pool.QueryRow(context.Background(), `SELECT count(*), coalesce(sum(net_value), 0) FROM order_lines WHERE order_id = $1`, id).
		Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	return n, sum
}

// TestFreeGoodsAreReservedReleasedAndShipped: an order earning free goods
// (搭赠: 2 HY-02 per 10 HY-01) carries them; approval reserves exactly the
// free quantity more of the gift SKU, cancelling releases it once, shipping
// takes it out of the warehouse. The gift changes neither the order's net
// total nor its lines (the rebate volume and returns read them). A gift the
// warehouse cannot give rejects the order, as a short paid line does.
func TestFreeGoodsAreReservedReleasedAndShipped(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.liveCampaignFor(t, "GIFT", `[{"id":"G1","kind":"buy_get_free","priority":1,"scope":{"skus":["HY-01"]},
		"buy_qty":10,"gift_sku":"HY-02","gift_qty":2,"repeat":true}]`)
	paid0, gift0 := h.balance(t, "WH-EAST", "HY-01"), h.balance(t, "WH-EAST", "HY-02")

	// 10 × 134.40 − 10% = 1209.60, auto-approved and reserved; 2 HY-02 free.
	o := h.submit(t, storeUser, "gift-1", lines("HY-01", 10))
	if o.Status != "approved" || !o.Reserved {
		t.Fatalf("order %s %s (reserved %v): %s", o.ID, o.Status, o.Reserved, o.ClosedReason)
	}
	if len(o.FreeGoods) != 1 || o.FreeGoods[0] != (api.OrderFreeGood{SKU: "HY-02", Qty: 2, Campaign: "GIFT", Rule: "G1", Note: o.FreeGoods[0].Note}) ||
		!strings.Contains(o.FreeGoods[0].Note, "HY-02 free") {
		t.Fatalf("free goods on the order: %+v", o.FreeGoods)
	}
	if len(o.Pricing.FreeGoods) != 1 || o.Pricing.FreeGoods[0].Qty != 2 {
		t.Fatalf("free goods in the pricing: %+v", o.Pricing.FreeGoods)
	}
	// The gift is not priced: the same net total as without the campaign,
	// and the order's lines are the paid line alone, adding up to it.
	if o.NetTotal.StringFixed(2) != "1209.60" || o.Payable.StringFixed(2) != "1209.60" || o.DiscountTotal.StringFixed(2) != "134.40" {
		t.Fatalf("net %s, payable %s, discount %s", o.NetTotal.StringFixed(2), o.Payable.StringFixed(2), o.DiscountTotal.StringFixed(2))
	}
	if n, sum := h.orderLineValues(t, o.ID); n != 1 || !sum.Equal(o.NetTotal.Decimal) {
		t.Fatalf("%d order lines worth %s, want the paid line worth the net total %s", n, sum.StringFixed(2), o.NetTotal.StringFixed(2))
	}
	if b := h.balance(t, "WH-EAST", "HY-02"); b.Reserved != gift0.Reserved+2 || b.OnHand != gift0.OnHand {
		t.Fatalf("gift SKU after approval %+v, before %+v: want exactly 2 more reserved", b, gift0)
	}
	if b := h.balance(t, "WH-EAST", "HY-01"); b.Reserved != paid0.Reserved+10 {
		t.Fatalf("paid SKU reserved %d, want %d", b.Reserved, paid0.Reserved+10)
	}

	// Cancelled: the gift is released with the line, once.
	var c api.Order
	h.do("POST", "/v1/orders/"+o.ID+"/cancel", storeUser, map[string]any{"reason": "ordered twice"}).expect(t, 200).json(t, &c)
	if c.Status != "cancelled" || c.Reserved || len(c.FreeGoods) != 1 {
		t.Fatalf("cancelled %+v", c)
	}
	h.do("POST", "/v1/orders/"+o.ID+"/cancel", storeUser, map[string]any{"reason": "again"}).expect(t, 409).problem(t)
	if b := h.balance(t, "WH-EAST", "HY-02"); b.Reserved != gift0.Reserved || b.OnHand != gift0.OnHand {
		t.Fatalf("gift SKU after cancel %+v, before %+v", b, gift0)
	}
	if b := h.balance(t, "WH-EAST", "HY-01"); b.Reserved != paid0.Reserved {
		t.Fatalf("paid SKU reserved %d after cancel, want %d", b.Reserved, paid0.Reserved)
	}
	if n := h.postings(t, "order:"+o.ID+":release"); n != 2 {
		t.Fatalf("%d release movements, want 2 (HY-01 and the gift)", n)
	}

	// Shipped: the gift leaves the warehouse with the order.
	s := h.submit(t, storeUser, "gift-2", lines("HY-01", 20))
	if s.Status != "approved" || len(s.FreeGoods) != 1 || s.FreeGoods[0].Qty != 4 {
		t.Fatalf("second order %s, free goods %+v", s.Status, s.FreeGoods)
	}
	// The workflow learns of the approval just after the database: until
	// then it refuses picking (409).
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r := h.do("POST", "/v1/orders/"+s.ID+"/fulfilment", agentEast, map[string]any{"stage": "picking"})
		if r.status == 200 {
			break
		}
		if r.status != 409 || time.Now().After(deadline) {
			r.expect(t, 200)
		}
	}
	h.do("POST", "/v1/orders/"+s.ID+"/fulfilment", agentEast, map[string]any{"stage": "shipped", "carrier": "SF Express", "tracking_number": "SF2001"}).expect(t, 200)
	if b := h.balance(t, "WH-EAST", "HY-02"); b.Reserved != gift0.Reserved || b.OnHand != gift0.OnHand-4 {
		t.Fatalf("gift SKU after shipping %+v, before %+v: want 4 fewer on hand, none reserved", b, gift0)
	}
	if b := h.balance(t, "WH-EAST", "HY-01"); b.OnHand != paid0.OnHand-20 {
		t.Fatalf("paid SKU on hand %d after shipping, want %d", b.OnHand, paid0.OnHand-20)
	}

	// A gift the warehouse cannot give: rejected at once, nothing held.
	if _, err := h.pool.Exec(context.Background(), `UPDATE campaigns SET rules = jsonb_set(rules, '{0,gift_qty}', '100000') WHERE id = 'GIFT'`); err != nil {
		t.Fatal(err)
	}
	before := h.balance(t, "WH-EAST", "HY-02")
	r := h.submit(t, storeUser, "gift-3", lines("HY-01", 10))
	if r.Status != "rejected" || !strings.Contains(r.ClosedReason, "insufficient stock") || !strings.Contains(r.ClosedReason, "100000 free goods") {
		t.Fatalf("order with a gift out of stock: %s, %q", r.Status, r.ClosedReason)
	}
	if b := h.balance(t, "WH-EAST", "HY-02"); b.Reserved != before.Reserved {
		t.Fatalf("gift SKU reserved %d after a rejection, want %d", b.Reserved, before.Reserved)
	}
	h.ledgerMatches(t)
}
