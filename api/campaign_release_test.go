package api_test

import (
	"testing"

	"github.com/alliance/backoffice/api"
)

// An order closed unfulfilled gives back what it took of a rule's caps: its
// usage is released (kept, marked) and counts no more for the budget, the
// uses per buyer or the campaign's figures; the next order gets the discount.
func TestCancelledOrderGivesItsCampaignCapsBack(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// spend 1000.00 → 80.00 off, budget 80.00 and one use per buyer.
	h.liveCampaignFor(t, "REL", `[{"id":"R1","kind":"spend_off","priority":1,
		"tiers":[{"threshold":"1000.00","off":"80.00"}],"caps":{"budget":"80.00","uses_per_buyer":1}}]`)
	applied := func(o api.Order) bool {
		for _, p := range o.Pricing.Promotions {
			if p.Rule == "REL/R1" && p.Applied {
				return p.Discount.StringFixed(2) == "80.00"
			}
		}
		return false
	}
	o1 := h.submit(t, storeUser, "rel-1", lines("HY-01", 10))
	if !applied(o1) {
		t.Fatalf("first order %+v", o1.Pricing.Promotions)
	}
	if o2 := h.submit(t, storeUser, "rel-2", lines("HY-01", 10)); applied(o2) {
		t.Fatal("a second order got the spent budget")
	} else {
		h.do("POST", "/v1/orders/"+o2.ID+"/cancel", storeUser, map[string]any{"reason": "priced without the promotion"}).expect(t, 200)
	}
	var d api.CampaignDetail
	h.do("GET", "/v1/campaigns/REL", hqAdmin, nil).expect(t, 200).json(t, &d)
	if d.Measurement.Orders != 1 || d.Measurement.Discount.StringFixed(2) != "80.00" {
		t.Fatalf("figures while the first order holds the budget: %+v", d.Measurement)
	}
	h.do("POST", "/v1/orders/"+o1.ID+"/cancel", storeUser, map[string]any{"reason": "ordered twice"}).expect(t, 200)
	h.waitOrder(t, storeUser, o1.ID, func(o api.Order) bool { return o.Status == "cancelled" })
	if n, spent := h.campaignUsage(t, "REL", "R1"); n != 1 || spent.StringFixed(2) != "80.00" {
		t.Fatalf("the usage row is kept: %d rows, %s", n, spent)
	}
	if n := h.count("campaign_usage WHERE released_at IS NOT NULL"); n != 1 {
		t.Fatalf("%d usage rows released, want 1", n)
	}
	h.do("GET", "/v1/campaigns/REL", hqAdmin, nil).expect(t, 200).json(t, &d)
	if d.Measurement.Orders != 0 || !d.Measurement.Discount.IsZero() {
		t.Fatalf("figures after the cancellation: %+v", d.Measurement)
	}
	// Budget and the buyer's one use are back.
	if o3 := h.submit(t, storeUser, "rel-3", lines("HY-01", 10)); !applied(o3) {
		t.Fatalf("after the release the next order is priced %+v", o3.Pricing.Promotions)
	}
}
