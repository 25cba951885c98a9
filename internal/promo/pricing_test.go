package promo

import (
	"strings"
	"testing"

	"github.com/alliance/backoffice/internal/pricing"
)

func TestPricingRules(t *testing.T) {
	rules := []Rule{
		{ID: "spend", Kind: KindSpendOff, Priority: 1, ExclusivityGroup: "order", Tiers: []Tier{{Threshold: d("5000.00"), Off: d("300.00")}}},
		{ID: "pct", Kind: KindPercentOff, Priority: 2, ExclusivityGroup: "order", Tiers: []Tier{{Threshold: d("5000.00"), Pct: d("5")}}},
		{ID: "hy10", Kind: KindItemDiscount, Priority: 3, Scope: Scope{Series: []string{"HY"}}, Pct: d("10")},
		{ID: "kit", Kind: KindBuyGetFree, Priority: 4, Scope: Scope{SKUs: []string{"HY-01"}}, BuyQty: 100, GiftSKU: "KIT-S", GiftQty: 20, Repeat: true},
		{ID: "rebate", CampaignID: "C-1", Kind: KindRebateBonus, Priority: 5, Scope: Scope{Series: []string{"HY"}}, Pct: d("2")},
		{ID: "west", Kind: KindSpendOff, Priority: 6, Target: Target{Regions: []string{"west"}}, Tiers: []Tier{{Threshold: d("1.00"), Off: d("1.00")}}},
	}
	ctx := Context{At: now, Buyer: Buyer{StoreKind: "counter", Channel: "cs"}} // the rest comes from pricing's buyer
	q, err := pricing.Price(pricing.Input{
		Buyer:            pricing.Buyer{Kind: "agent", Code: "AG-EAST", Grade: "A", Region: "east", Agent: "AG-EAST"},
		Items:            []pricing.Item{{SKU: "HY-01", Series: "HY", Qty: 100, ListPrice: d("120.00")}},
		GradeDiscountPct: d("30"),
		Ladder:           []pricing.Tier{{Threshold: d("5000.00"), DiscountPct: d("1")}},
		Promotions:       PricingRules(ctx, rules),
	})
	if err != nil {
		t.Fatal(err)
	}
	// 100 × 120.00 = 12000.00; grade 30% = 3600.00 → line net 8400.00;
	// ladder 1% of 8400.00 = 84.00 → order amount 8316.00.
	// spend: 8316.00 ≥ 5000.00 → 300.00 (priority 1 wins group "order");
	// pct: would be 5% of 8316.00 = 415.80, passed over: exclusive with spend;
	// hy10: 10% of the HY lines' 8400.00 = 840.00;
	// kit: 100 / 100 = 1 → 20 KIT-S free; rebate: 2% on HY-01;
	// west: not targeted (region east).
	// Promotions 300.00 + 840.00 = 1140.00 → net 8316.00 − 1140.00 = 7176.00.
	eq(t, "promotion discount", q.PromotionDiscount, "1140.00")
	eq(t, "net", q.NetTotal, "7176.00")
	eq(t, "payable", q.Payable, "7176.00")
	want := []struct {
		rule     string
		applied  bool
		discount string
		note     string
	}{
		{"spend", true, "300.00", "reaches 5000.00: 300.00 off"},
		{"pct", false, "0", "exclusive with spend"},
		{"hy10", true, "840.00", "840.00"},
		{"kit", true, "0", "KIT-S free"},
		{"rebate", true, "0", "rebate bonus 2% on HY-01"},
		{"west", false, "0", `region "east" not in [west]`},
	}
	if len(q.Promotions) != len(want) {
		t.Fatalf("promotions %+v", q.Promotions)
	}
	for i, w := range want {
		p := q.Promotions[i]
		if p.Rule != w.rule || p.Applied != w.applied || !p.Discount.Equal(d(w.discount)) || !strings.Contains(p.Note, w.note) {
			t.Errorf("promotion %d = %+v, want %+v", i, p, w)
		}
	}
	if len(q.FreeGoods) != 1 || q.FreeGoods[0].SKU != "KIT-S" || q.FreeGoods[0].Qty != 20 || q.FreeGoods[0].Rule != "kit" {
		t.Errorf("free goods %+v", q.FreeGoods)
	}
	if len(q.RebateRates) != 1 || q.RebateRates[0].SKU != "HY-01" || !q.RebateRates[0].Pct.Equal(d("2")) || q.RebateRates[0].Campaign != "C-1" {
		t.Errorf("rebate rates %+v", q.RebateRates)
	}
	if q.Lines[0].Series != "HY" {
		t.Errorf("line series %q", q.Lines[0].Series)
	}

	// The order cap holds across adapters: on a 100.00 order (no grade, no
	// ladder), 90.00 off then 50% of 100.00 = 50.00 capped to 10.00.
	q, err = pricing.Price(pricing.Input{
		Items: []pricing.Item{{SKU: "HY-01", Series: "HY", Qty: 1, ListPrice: d("100.00")}},
		Promotions: PricingRules(ctx, []Rule{
			{ID: "a", Kind: KindSpendOff, Tiers: []Tier{{Threshold: d("100.00"), Off: d("90.00")}}},
			{ID: "b", Kind: KindItemDiscount, Scope: Scope{SKUs: []string{"HY-01"}}, Pct: d("50")},
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "capped b", q.Promotions[1].Discount, "10.00")
	eq(t, "net", q.NetTotal, "0")
}
