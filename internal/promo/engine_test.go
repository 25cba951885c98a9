package promo

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func eq(t *testing.T, what string, got decimal.Decimal, want string) {
	t.Helper()
	if !got.Equal(d(want)) {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

var (
	cst   = time.FixedZone("CST", 8*3600)
	now   = time.Date(2026, 11, 5, 10, 0, 0, 0, cst)
	buyer = Buyer{Kind: "store", Code: "ST-001", Grade: "A", Agent: "AG-EAST", StoreKind: "counter", Region: "east", Channel: "cs"}
	ctx0  = Context{At: now, Buyer: buyer}
)

// amountOrder is an order of one line worth amount.
func amountOrder(amount string) Order {
	return Order{Lines: []Line{{SKU: "X-01", Series: "X", Qty: 1, Amount: d(amount)}}, Amount: d(amount)}
}

// one evaluates a single rule and returns its outcome.
func one(t *testing.T, ctx Context, o Order, r Rule) Outcome {
	t.Helper()
	res := Evaluate(ctx, o, []Rule{r})
	if len(res.Outcomes) != 1 {
		t.Fatalf("outcomes %+v", res.Outcomes)
	}
	return res.Outcomes[0]
}

func applied(t *testing.T, o Outcome, discount string) {
	t.Helper()
	if !o.Applied {
		t.Fatalf("%s not applied: %s (%s)", o.Rule, o.Reason, o.Note)
	}
	eq(t, o.Rule+" discount", o.Discount, discount)
}

func passed(t *testing.T, o Outcome, reason Reason, noteHas string) {
	t.Helper()
	if o.Applied || o.Reason != reason {
		t.Fatalf("%s: applied=%v reason=%s (%s), want passed over: %s", o.Rule, o.Applied, o.Reason, o.Note, reason)
	}
	if !o.Discount.IsZero() || len(o.FreeGoods) > 0 || len(o.RebateRates) > 0 {
		t.Errorf("%s passed over but gives %s %+v %+v", o.Rule, o.Discount, o.FreeGoods, o.RebateRates)
	}
	if !strings.Contains(o.Note, noteHas) {
		t.Errorf("%s note %q does not say %q", o.Rule, o.Note, noteHas)
	}
}

func spendOff(id string, tiers ...string) Rule {
	r := Rule{ID: id, Kind: KindSpendOff}
	for i := 0; i < len(tiers); i += 2 {
		r.Tiers = append(r.Tiers, Tier{Threshold: d(tiers[i]), Off: d(tiers[i+1])})
	}
	return r
}

func percentOff(id string, tiers ...string) Rule {
	r := Rule{ID: id, Kind: KindPercentOff}
	for i := 0; i < len(tiers); i += 2 {
		r.Tiers = append(r.Tiers, Tier{Threshold: d(tiers[i]), Pct: d(tiers[i+1])})
	}
	return r
}

func TestSpendOffOnce(t *testing.T) {
	r := spendOff("m1", "1000.00", "100.00")
	// 1500.00 ≥ 1000.00 → 100.00 off, once.
	applied(t, one(t, ctx0, amountOrder("1500.00"), r), "100.00")
	// Exactly the threshold qualifies.
	applied(t, one(t, ctx0, amountOrder("1000.00"), r), "100.00")
	// 3500.00 without repeat is still 100.00.
	applied(t, one(t, ctx0, amountOrder("3500.00"), r), "100.00")
	// 999.99 is 0.01 short.
	o := one(t, ctx0, amountOrder("999.99"), r)
	passed(t, o, ReasonNotReached, "0.01 short of 1000.00")
	eq(t, "shortfall", o.Shortfall, "0.01")
}

func TestSpendOffRepeat(t *testing.T) {
	r := spendOff("m2", "1000.00", "80.00")
	r.Repeat = true
	// 3500.00 → floor(3500/1000) = 3 × 80.00 = 240.00.
	o := one(t, ctx0, amountOrder("3500.00"), r)
	applied(t, o, "240.00")
	if !strings.Contains(o.Note, "3 × 80.00 = 240.00") {
		t.Errorf("note %q", o.Note)
	}
	// 2999.99 → 2 × 80.00 = 160.00.
	applied(t, one(t, ctx0, amountOrder("2999.99"), r), "160.00")
	// At most 2 times: 3500.00 → 2 × 80.00 = 160.00.
	r.MaxTimes = 2
	applied(t, one(t, ctx0, amountOrder("3500.00"), r), "160.00")
	// 800.00 is 200.00 short.
	o = one(t, ctx0, amountOrder("800.00"), r)
	passed(t, o, ReasonNotReached, "200.00 short")
	eq(t, "shortfall", o.Shortfall, "200.00")
}

func TestSpendOffTiers(t *testing.T) {
	r := spendOff("m3", "1000.00", "50.00", "5000.00", "300.00", "10000.00", "800.00")
	// 7200.00 reaches 5000.00 but not 10000.00 → 300.00.
	applied(t, one(t, ctx0, amountOrder("7200.00"), r), "300.00")
	// 10000.00 reaches the top tier exactly → 800.00.
	applied(t, one(t, ctx0, amountOrder("10000.00"), r), "800.00")
	// 4999.99 → the first tier, 50.00.
	applied(t, one(t, ctx0, amountOrder("4999.99"), r), "50.00")
	// 500.00 is 500.00 short of the lowest tier.
	o := one(t, ctx0, amountOrder("500.00"), r)
	passed(t, o, ReasonNotReached, "500.00 short of 1000.00")
}

func TestSpendOffScoped(t *testing.T) {
	r := spendOff("m4", "1000.00", "100.00")
	r.Scope = Scope{Series: []string{"HY"}}
	o := Order{Lines: []Line{
		{SKU: "HY-01", Series: "HY", Qty: 5, Amount: d("600.00")},
		{SKU: "X-01", Series: "X", Qty: 5, Amount: d("5000.00")},
	}, Amount: d("5600.00")}
	// Only series HY counts: 600.00 is 400.00 short, though the order is 5600.00.
	passed(t, one(t, ctx0, o, r), ReasonNotReached, "400.00 short")
	o.Lines = append(o.Lines, Line{SKU: "HY-02", Series: "HY", Qty: 1, Amount: d("400.00")})
	// 600.00 + 400.00 = 1000.00 → 100.00.
	applied(t, one(t, ctx0, o, r), "100.00")
}

func TestPercentOff(t *testing.T) {
	r := percentOff("p1", "2000.00", "5")
	// 2345.67 × 5% = 117.2835 → 117.28.
	applied(t, one(t, ctx0, amountOrder("2345.67"), r), "117.28")
	// 1999.99: 0.01 short.
	passed(t, one(t, ctx0, amountOrder("1999.99"), r), ReasonNotReached, "0.01 short")

	tiers := percentOff("p2", "2000.00", "5", "8000.00", "8")
	// 8000.00 reaches 8%: 640.00.
	applied(t, one(t, ctx0, amountOrder("8000.00"), tiers), "640.00")
	// 7999.99 stays at 5%: 399.9995 → 400.00.
	applied(t, one(t, ctx0, amountOrder("7999.99"), tiers), "400.00")
}

func TestRoundingHalfAwayFromZero(t *testing.T) {
	r := percentOff("p", "100.00", "5")
	// 100.10 × 5% = 5.005 → 5.01 (half away from zero, not to even).
	applied(t, one(t, ctx0, amountOrder("100.10"), r), "5.01")
	// 100.30 × 5% = 5.015 → 5.02.
	applied(t, one(t, ctx0, amountOrder("100.30"), r), "5.02")
	// 100.09 × 5% = 5.0045 → 5.00.
	applied(t, one(t, ctx0, amountOrder("100.09"), r), "5.00")

	item := Rule{ID: "i", Kind: KindItemDiscount, Scope: Scope{SKUs: []string{"X-01"}}, Pct: d("12.5")}
	// 0.04 × 12.5% = 0.005 → 0.01.
	applied(t, one(t, ctx0, amountOrder("0.04"), item), "0.01")
	// Rounded once on the scope's sum, not per line: 3 lines of 0.04 =
	// 0.12 × 12.5% = 0.015 → 0.02 (per line it would be 3 × 0.01 = 0.03).
	o := Order{Lines: []Line{
		{SKU: "X-01", Qty: 1, Amount: d("0.04")}, {SKU: "X-01", Qty: 1, Amount: d("0.04")}, {SKU: "X-01", Qty: 1, Amount: d("0.04")},
	}, Amount: d("0.12")}
	applied(t, one(t, ctx0, o, item), "0.02")
}

func TestBuyGetFree(t *testing.T) {
	// 100 cases of HY-01 → 20 sample kits, repeatable.
	r := Rule{ID: "g1", Kind: KindBuyGetFree, Scope: Scope{SKUs: []string{"HY-01"}}, BuyQty: 100, GiftSKU: "KIT-S", GiftQty: 20, Repeat: true}
	o := Order{Lines: []Line{{SKU: "HY-01", Series: "HY", Qty: 250, Amount: d("30000.00")}}, Amount: d("30000.00")}
	// 250 / 100 = 2 times → 2 × 20 = 40 kits, no discount.
	out := one(t, ctx0, o, r)
	applied(t, out, "0")
	if len(out.FreeGoods) != 1 || out.FreeGoods[0] != (FreeGood{SKU: "KIT-S", Qty: 40, Rule: "g1", Reason: out.Note}) {
		t.Fatalf("free goods %+v", out.FreeGoods)
	}
	// Not repeatable: 20 kits.
	r.Repeat = false
	out = one(t, ctx0, o, r)
	if out.FreeGoods[0].Qty != 20 {
		t.Errorf("once: %d kits, want 20", out.FreeGoods[0].Qty)
	}
	// Repeatable at most once more: MaxTimes 1 → 20.
	r.Repeat, r.MaxTimes = true, 1
	if out = one(t, ctx0, o, r); out.FreeGoods[0].Qty != 20 {
		t.Errorf("max once: %d kits, want 20", out.FreeGoods[0].Qty)
	}
	// 99 cases: 1 short.
	o.Lines[0].Qty = 99
	out = one(t, ctx0, o, r)
	passed(t, out, ReasonNotReached, "1 more needed for 100")
	eq(t, "shortfall (units)", out.Shortfall, "1")

	// The same SKU free: buy 10 get 1, repeatable; 35 → 3 × 1 = 3 free.
	same := Rule{ID: "g2", Kind: KindBuyGetFree, Scope: Scope{SKUs: []string{"HY-01"}}, BuyQty: 10, GiftSKU: "HY-01", GiftQty: 1, Repeat: true}
	o.Lines[0].Qty = 35
	if out = one(t, ctx0, o, same); out.FreeGoods[0].Qty != 3 || out.FreeGoods[0].SKU != "HY-01" {
		t.Errorf("same SKU gift %+v", out.FreeGoods)
	}

	// A series scope adds its lines: 60 + 50 = 110 ≥ 100 → once → 20.
	series := Rule{ID: "g3", Kind: KindBuyGetFree, Scope: Scope{Series: []string{"HY"}}, BuyQty: 100, GiftSKU: "KIT-S", GiftQty: 20, Repeat: true}
	o = Order{Lines: []Line{{SKU: "HY-01", Series: "HY", Qty: 60, Amount: d("1")}, {SKU: "HY-02", Series: "HY", Qty: 50, Amount: d("1")}, {SKU: "X-01", Series: "X", Qty: 500, Amount: d("1")}}, Amount: d("3")}
	if out = one(t, ctx0, o, series); out.FreeGoods[0].Qty != 20 {
		t.Errorf("series gift %+v", out.FreeGoods)
	}
}

func TestNewWithOld(t *testing.T) {
	// Buy 12 of the new series NEW, get 2 of the best-seller BEST-01, repeatable.
	r := Rule{ID: "n1", Kind: KindNewWithOld, Scope: Scope{Series: []string{"NEW"}}, BuyQty: 12, GiftSKU: "BEST-01", GiftQty: 2, Repeat: true}
	o := Order{Lines: []Line{
		{SKU: "NEW-01", Series: "NEW", Qty: 18, Amount: d("1800.00")},
		{SKU: "NEW-02", Series: "NEW", Qty: 12, Amount: d("1200.00")},
		{SKU: "BEST-01", Series: "BEST", Qty: 40, Amount: d("4000.00")},
	}, Amount: d("7000.00")}
	// 18 + 12 = 30 new units → floor(30/12) = 2 → 2 × 2 = 4 BEST-01 free.
	out := one(t, ctx0, o, r)
	applied(t, out, "0")
	if len(out.FreeGoods) != 1 || out.FreeGoods[0].SKU != "BEST-01" || out.FreeGoods[0].Qty != 4 {
		t.Fatalf("free goods %+v", out.FreeGoods)
	}
	// Best-sellers alone do not count: 40 BEST-01 and 11 NEW → 1 short.
	o.Lines = []Line{{SKU: "NEW-01", Series: "NEW", Qty: 11, Amount: d("1100.00")}, o.Lines[2]}
	passed(t, one(t, ctx0, o, r), ReasonNotReached, "1 more needed")
}

func TestItemDiscount(t *testing.T) {
	r := Rule{ID: "s1", Kind: KindItemDiscount, Scope: Scope{Series: []string{"HY"}, SKUs: []string{"Z-09"}}, Pct: d("10")}
	o := Order{Lines: []Line{
		{SKU: "HY-01", Series: "HY", Qty: 12, Amount: d("1234.56")},
		{SKU: "HY-02", Series: "HY", Qty: 1, Amount: d("100.00")},
		{SKU: "X-01", Series: "X", Qty: 3, Amount: d("500.00")},
		{SKU: "Z-09", Series: "Z", Qty: 1, Amount: d("10.00")},
	}, Amount: d("1844.56")}
	// (1234.56 + 100.00 + 10.00) × 10% = 134.456 → 134.46; X-01 is not in scope.
	applied(t, one(t, ctx0, o, r), "134.46")
	passed(t, one(t, ctx0, amountOrder("500.00"), r), ReasonNotReached, "no line of SKU Z-09 or series HY")
}

func TestBundlePrice(t *testing.T) {
	// 1 × A + 2 × B for 150.00.
	r := Rule{ID: "b1", Kind: KindBundlePrice, Bundle: []BundleItem{{SKU: "A", Qty: 1}, {SKU: "B", Qty: 2}}, BundlePrice: d("150.00"), Repeat: true}
	o := Order{Lines: []Line{
		{SKU: "A", Qty: 3, Amount: d("180.00")}, // 60.00 each
		{SKU: "B", Qty: 5, Amount: d("250.00")}, // 50.00 each
	}, Amount: d("430.00")}
	// A bundle is worth 60.00 + 2 × 50.00 = 160.00; min(3/1, 5/2) = 2
	// bundles → 2 × (160.00 − 150.00) = 20.00.
	applied(t, one(t, ctx0, o, r), "20.00")
	// Once only: 10.00.
	r.Repeat = false
	applied(t, one(t, ctx0, o, r), "10.00")
	// Uneven unit amounts: A is 3 for 100.00 (33.333…): a bundle is worth
	// 33.333… + 100.00 = 133.333…; 2 bundles at 120.00 → 2 × 13.333… =
	// 26.666… → 26.67.
	r.Repeat, r.BundlePrice = true, d("120.00")
	o.Lines[0].Amount = d("100.00")
	applied(t, one(t, ctx0, o, r), "26.67")
	// A missing component.
	o.Lines[1].Qty = 1
	passed(t, one(t, ctx0, o, r), ReasonNotReached, "1 more B")
	// Already cheaper than the bundle price: nothing.
	o.Lines[1] = Line{SKU: "B", Qty: 2, Amount: d("20.00")}
	passed(t, one(t, ctx0, o, r), ReasonNotReached, "already costs")
}

func TestRebateBonus(t *testing.T) {
	r := Rule{ID: "r1", CampaignID: "C-1", Kind: KindRebateBonus, Scope: Scope{Series: []string{"NEW"}}, Pct: d("2.5")}
	o := Order{Lines: []Line{
		{SKU: "NEW-02", Series: "NEW", Qty: 1, Amount: d("100.00")},
		{SKU: "X-01", Series: "X", Qty: 1, Amount: d("100.00")},
		{SKU: "NEW-01", Series: "NEW", Qty: 1, Amount: d("100.00")},
		{SKU: "NEW-02", Series: "NEW", Qty: 3, Amount: d("300.00")},
	}, Amount: d("600.00")}
	res := Evaluate(ctx0, o, []Rule{r})
	applied(t, res.Outcomes[0], "0")
	eq(t, "order discount", res.Discount, "0")
	// One rate per SKU, in line order.
	if len(res.RebateRates) != 2 || res.RebateRates[0].SKU != "NEW-02" || res.RebateRates[1].SKU != "NEW-01" ||
		!res.RebateRates[0].Pct.Equal(d("2.5")) || res.RebateRates[0].Campaign != "C-1" || res.RebateRates[0].Rule != "r1" {
		t.Fatalf("rates %+v", res.RebateRates)
	}
	passed(t, one(t, ctx0, amountOrder("100.00"), r), ReasonNotReached, "no line of series NEW")
}

func TestStacking(t *testing.T) {
	spend := spendOff("a-spend", "10000.00", "500.00")
	pct := percentOff("b-pct", "5000.00", "3")
	gift := Rule{ID: "c-gift", Kind: KindBuyGetFree, Scope: Scope{SKUs: []string{"X-01"}}, BuyQty: 1, GiftSKU: "KIT", GiftQty: 1}
	res := Evaluate(ctx0, amountOrder("10000.00"), []Rule{gift, pct, spend})
	// No group: all stack. 500.00 + 10000.00 × 3% = 300.00 → 800.00, and a kit.
	eq(t, "total", res.Discount, "800.00")
	if len(res.FreeGoods) != 1 {
		t.Fatalf("free goods %+v", res.FreeGoods)
	}
	if o, ok := res.Outcome("b-pct"); !ok || !o.Discount.Equal(d("300.00")) {
		t.Errorf("Outcome(b-pct) = %+v, %v", o, ok)
	}
	if _, ok := res.Outcome("nope"); ok {
		t.Error("Outcome of an unknown rule")
	}
	// Considered in ID order (same priority); each read 10000.00 — no compounding.
	for i, id := range []string{"a-spend", "b-pct", "c-gift"} {
		if res.Outcomes[i].Rule != id || !res.Outcomes[i].Applied {
			t.Errorf("outcome %d = %+v, want %s applied", i, res.Outcomes[i], id)
		}
	}
}

func TestExclusivity(t *testing.T) {
	a := spendOff("A", "10000.00", "200.00")
	b := percentOff("B", "5000.00", "5") // 10000.00 × 5% = 500.00
	a.ExclusivityGroup, b.ExclusivityGroup = "g", "g"
	free := spendOff("F", "1000.00", "10.00") // no group: stacks with the winner
	order := amountOrder("10000.00")

	// Better priority wins though it gives less: A (1) over B (2).
	a.Priority, b.Priority = 1, 2
	res := Evaluate(ctx0, order, []Rule{b, free, a})
	// Order: A (1), B (2), F (0)? No — F has priority 0, so F, A, B.
	if res.Outcomes[0].Rule != "F" || res.Outcomes[1].Rule != "A" || res.Outcomes[2].Rule != "B" {
		t.Fatalf("order %s %s %s", res.Outcomes[0].Rule, res.Outcomes[1].Rule, res.Outcomes[2].Rule)
	}
	applied(t, res.Outcomes[1], "200.00")
	passed(t, res.Outcomes[2], ReasonExclusive, "exclusive with A")
	if res.Outcomes[2].ExclusiveWith != "A" {
		t.Errorf("exclusive with %q", res.Outcomes[2].ExclusiveWith)
	}
	// 10.00 + 200.00.
	eq(t, "total", res.Discount, "210.00")

	// Same priority: the larger discount wins, B (500.00) over A (200.00).
	a.Priority, b.Priority = 1, 1
	res = Evaluate(ctx0, order, []Rule{a, b})
	passed(t, res.Outcomes[0], ReasonExclusive, "exclusive with B")
	applied(t, res.Outcomes[1], "500.00")
	eq(t, "total", res.Discount, "500.00")

	// Same priority and discount: the smaller ID wins.
	b2 := spendOff("B", "10000.00", "200.00")
	b2.ExclusivityGroup, b2.Priority = "g", 1
	res = Evaluate(ctx0, order, []Rule{b2, a})
	applied(t, res.Outcomes[0], "200.00")
	passed(t, res.Outcomes[1], ReasonExclusive, "exclusive with A")

	// A rule that does not apply does not block: A exhausted → B applies.
	a.Priority, b.Priority = 1, 2
	a.Caps.UsesPerBuyer = 1
	ctx := ctx0
	ctx.Usage = map[string]Usage{"A": {BuyerUses: 1}}
	res = Evaluate(ctx, order, []Rule{a, b})
	passed(t, res.Outcomes[0], ReasonUsesExhausted, "1 of 1 used")
	applied(t, res.Outcomes[1], "500.00")

	// Three in a group: one winner, two passed over.
	c := percentOff("C", "5000.00", "1")
	c.ExclusivityGroup, c.Priority = "g", 3
	a.Caps = Caps{}
	res = Evaluate(ctx0, order, []Rule{c, b, a})
	applied(t, res.Outcomes[0], "200.00")
	passed(t, res.Outcomes[1], ReasonExclusive, "exclusive with A")
	passed(t, res.Outcomes[2], ReasonExclusive, "exclusive with A")

	// Different groups stack.
	b.ExclusivityGroup = "h"
	res = Evaluate(ctx0, order, []Rule{a, b})
	eq(t, "two groups", res.Discount, "700.00")
}

func TestUsesPerBuyer(t *testing.T) {
	r := spendOff("u", "100.00", "10.00")
	r.Caps.UsesPerBuyer = 3
	ctx := ctx0
	ctx.Usage = map[string]Usage{"u": {BuyerUses: 2}}
	applied(t, one(t, ctx, amountOrder("100.00"), r), "10.00")
	ctx.Usage = map[string]Usage{"u": {BuyerUses: 3}}
	passed(t, one(t, ctx, amountOrder("100.00"), r), ReasonUsesExhausted, "3 of 3 used")
	// Another rule's usage does not count.
	ctx.Usage = map[string]Usage{"other": {BuyerUses: 9}}
	applied(t, one(t, ctx, amountOrder("100.00"), r), "10.00")
}

func TestBudget(t *testing.T) {
	r := spendOff("bud", "1000.00", "100.00")
	r.Caps.Budget = d("1000.00")
	ctx := ctx0
	// 900.00 spent: 100.00 left, all of it.
	ctx.Usage = map[string]Usage{"bud": {BudgetSpent: d("900.00")}}
	o := one(t, ctx, amountOrder("1000.00"), r)
	applied(t, o, "100.00")
	if o.Reason != ReasonApplied {
		t.Errorf("reason %s", o.Reason)
	}
	// 950.00 spent: 1000.00 − 950.00 = 50.00 left → capped to 50.00.
	ctx.Usage = map[string]Usage{"bud": {BudgetSpent: d("950.00")}}
	o = one(t, ctx, amountOrder("1000.00"), r)
	applied(t, o, "50.00")
	if o.Reason != ReasonBudgetCapped || !strings.Contains(o.Note, "capped to the budget left, 50.00") {
		t.Errorf("reason %s note %q", o.Reason, o.Note)
	}
	// All spent.
	ctx.Usage = map[string]Usage{"bud": {BudgetSpent: d("1000.00")}}
	passed(t, one(t, ctx, amountOrder("1000.00"), r), ReasonBudgetGone, "1000.00 of 1000.00 spent")

	// The capped discount is what exclusivity compares: B capped to 50.00
	// loses to A's 100.00 at the same priority.
	a := spendOff("A", "1000.00", "100.00")
	b := percentOff("B", "1000.00", "20") // 200.00, capped to 50.00
	a.ExclusivityGroup, b.ExclusivityGroup = "g", "g"
	b.Caps.Budget = d("500.00")
	ctx.Usage = map[string]Usage{"B": {BudgetSpent: d("450.00")}}
	res := Evaluate(ctx, amountOrder("1000.00"), []Rule{a, b})
	applied(t, res.Outcomes[0], "100.00")
	passed(t, res.Outcomes[1], ReasonExclusive, "exclusive with A")
}

func TestOrderCap(t *testing.T) {
	// 1000.00 order: 900.00 off, then 20% of 1000.00 = 200.00 but only
	// 1000.00 − 900.00 = 100.00 is left.
	a := spendOff("a", "1000.00", "900.00")
	b := Rule{ID: "b", Kind: KindItemDiscount, Scope: Scope{SKUs: []string{"X-01"}}, Pct: d("20")}
	res := Evaluate(ctx0, amountOrder("1000.00"), []Rule{a, b})
	applied(t, res.Outcomes[0], "900.00")
	applied(t, res.Outcomes[1], "100.00")
	if res.Outcomes[1].Reason != ReasonOrderCapped {
		t.Errorf("reason %s", res.Outcomes[1].Reason)
	}
	eq(t, "total", res.Discount, "1000.00")
}

func TestWindow(t *testing.T) {
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, cst)
	to := time.Date(2026, 11, 12, 0, 0, 0, 0, cst)
	r := spendOff("w", "100.00", "10.00")
	r.ValidFrom, r.ValidTo = from, to
	for _, c := range []struct {
		at   time.Time
		ok   bool
		note string
	}{
		{from.Add(-time.Nanosecond), false, "starts 2026-11-01T00:00:00+08:00"},
		{from, true, ""},                                                 // the start is in
		{to.Add(-time.Nanosecond), true, ""},                             // the last instant is in
		{to, false, "ended 2026-11-12T00:00:00+08:00"},                   // the end is out
		{to.In(time.UTC).Add(-time.Second), true, ""},                    // zones do not matter
		{time.Date(2026, 11, 11, 16, 0, 0, 0, time.UTC), false, "ended"}, // = to in UTC
	} {
		ctx := ctx0
		ctx.At = c.at
		o := one(t, ctx, amountOrder("100.00"), r)
		if c.ok {
			applied(t, o, "10.00")
		} else {
			passed(t, o, ReasonOutsideWindow, c.note)
		}
	}
	// Open ends.
	open := spendOff("o", "100.00", "10.00")
	open.ValidFrom = from
	ctx := ctx0
	ctx.At = time.Date(2030, 1, 1, 0, 0, 0, 0, cst)
	applied(t, one(t, ctx, amountOrder("100.00"), open), "10.00")
}

func TestTargeting(t *testing.T) {
	for _, c := range []struct {
		target Target
		ok     bool
		note   string
	}{
		{Target{}, true, ""},
		{Target{Grades: []string{"A", "S"}}, true, ""},
		{Target{Grades: []string{"B", "C"}}, false, `grade "A" not in [B, C]`},
		{Target{Agents: []string{"AG-EAST"}}, true, ""},
		{Target{Agents: []string{"AG-WEST"}}, false, `agent "AG-EAST" not in [AG-WEST]`},
		{Target{StoreKinds: []string{"counter", "flagship"}}, true, ""},
		{Target{StoreKinds: []string{"flagship"}}, false, `store kind "counter" not in [flagship]`},
		{Target{Regions: []string{"east"}}, true, ""},
		{Target{Regions: []string{"north", "south"}}, false, `region "east" not in [north, south]`},
		{Target{Channels: []string{"cs"}}, true, ""},
		{Target{Channels: []string{"ecommerce"}}, false, `channel "cs" not in [ecommerce]`},
		{Target{BuyerKinds: []string{"store"}}, true, ""},
		{Target{BuyerKinds: []string{"agent"}}, false, `buyer kind "store" not in [agent]`},
		// Every dimension must accept the buyer.
		{Target{Grades: []string{"A"}, Regions: []string{"west"}}, false, "region"},
		{Target{Grades: []string{"A"}, Agents: []string{"AG-EAST"}, StoreKinds: []string{"counter"}, Regions: []string{"east"}, Channels: []string{"cs"}, BuyerKinds: []string{"store"}}, true, ""},
	} {
		r := spendOff("t", "100.00", "10.00")
		r.Target = c.target
		o := one(t, ctx0, amountOrder("100.00"), r)
		if c.ok {
			applied(t, o, "10.00")
		} else {
			passed(t, o, ReasonNotTargeted, c.note)
		}
	}
}

func TestInvalidAndDuplicateRulesArePassedOver(t *testing.T) {
	bad := spendOff("bad", "100.00", "200.00") // off above threshold
	dup1 := spendOff("dup", "100.00", "10.00")
	dup2 := spendOff("dup", "100.00", "20.00")
	res := Evaluate(ctx0, amountOrder("100.00"), []Rule{bad, dup1, dup2})
	passed(t, res.Outcomes[0], ReasonInvalid, "tiers[0].off")
	applied(t, res.Outcomes[1], "10.00") // the stable sort keeps the first given first
	passed(t, res.Outcomes[2], ReasonDuplicate, "same ID")
	eq(t, "total", res.Discount, "10.00")
}

func TestDeterministic(t *testing.T) {
	rules := []Rule{
		spendOff("m", "1000.00", "100.00"),
		percentOff("p", "500.00", "3.3"),
		{ID: "i", Kind: KindItemDiscount, Scope: Scope{Series: []string{"X"}}, Pct: d("7.77")},
		{ID: "g", Kind: KindBuyGetFree, Scope: Scope{SKUs: []string{"X-01"}}, BuyQty: 1, GiftSKU: "KIT", GiftQty: 2},
		{ID: "r", Kind: KindRebateBonus, Scope: Scope{SKUs: []string{"X-01"}}, Pct: d("1")},
		{ID: "e1", Kind: KindPercentOff, Tiers: []Tier{{Threshold: d("1"), Pct: d("1")}}, ExclusivityGroup: "x"},
		{ID: "e2", Kind: KindSpendOff, Tiers: []Tier{{Threshold: d("1"), Off: d("1")}}, ExclusivityGroup: "x"},
	}
	rules[1].Priority = 5
	order := amountOrder("1234.57")
	want, _ := json.Marshal(Evaluate(ctx0, order, rules))
	for i := range 30 {
		perm := make([]Rule, len(rules))
		for j := range rules {
			perm[j] = rules[(j*(i+2)+i)%len(rules)]
		}
		if (i+2)%len(rules) == 0 { // not a permutation; reverse instead
			for j := range rules {
				perm[j] = rules[len(rules)-1-j]
			}
		}
		got, _ := json.Marshal(Evaluate(ctx0, order, perm))
		if string(got) != string(want) {
			t.Fatalf("evaluation depends on the order of the rules:\n%s\n%s", got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, cst)
	valid := []Rule{
		spendOff("m", "1000.00", "100.00"),
		percentOff("p", "1000.00", "5", "2000.00", "7.5"),
		{ID: "g", Kind: KindBuyGetFree, Scope: Scope{SKUs: []string{"A"}}, BuyQty: 100, GiftSKU: "K", GiftQty: 20, Repeat: true, MaxTimes: 3},
		{ID: "n", Kind: KindNewWithOld, Scope: Scope{Series: []string{"NEW"}}, BuyQty: 1, GiftSKU: "B", GiftQty: 1},
		{ID: "i", Kind: KindItemDiscount, Scope: Scope{SKUs: []string{"A"}}, Pct: d("10"), Caps: Caps{Budget: d("5000.00"), UsesPerBuyer: 2}},
		{ID: "b", Kind: KindBundlePrice, Bundle: []BundleItem{{SKU: "A", Qty: 1}}, BundlePrice: d("99.00")},
		{ID: "r", Kind: KindRebateBonus, Scope: Scope{Series: []string{"NEW"}}, Pct: d("2")},
	}
	for _, r := range valid {
		if err := r.Validate(); err != nil {
			t.Errorf("%s: %v", r.ID, err)
		}
	}
	if err := ValidateAll(valid); err != nil {
		t.Errorf("ValidateAll: %v", err)
	}
	mod := func(i int, f func(*Rule)) Rule {
		r := valid[i]
		r.Tiers = append([]Tier(nil), r.Tiers...)
		r.Bundle = append([]BundleItem(nil), r.Bundle...)
		f(&r)
		return r
	}
	for _, c := range []struct {
		rule  Rule
		field string
	}{
		{mod(0, func(r *Rule) { r.ID = "" }), "id"},
		{mod(0, func(r *Rule) { r.Kind = "bogo" }), "kind"},
		{mod(0, func(r *Rule) { r.Priority = -1 }), "priority"},
		{mod(0, func(r *Rule) { r.ValidFrom, r.ValidTo = from, from }), "valid_to"},
		{mod(0, func(r *Rule) { r.Caps.UsesPerBuyer = -1 }), "caps.uses_per_buyer"},
		{mod(0, func(r *Rule) { r.Caps.Budget = d("-1") }), "caps.budget"},
		{mod(0, func(r *Rule) { r.Caps.Budget = d("10.005") }), "caps.budget"},
		{mod(2, func(r *Rule) { r.Caps.Budget = d("100") }), "caps.budget"},
		{mod(0, func(r *Rule) { r.Tiers = nil }), "tiers"},
		{mod(0, func(r *Rule) { r.Tiers[0].Threshold = d("0") }), "tiers[0].threshold"},
		{mod(0, func(r *Rule) { r.Tiers[0].Off = d("0") }), "tiers[0].off"},
		{mod(0, func(r *Rule) { r.Tiers[0].Off = d("10.001") }), "tiers[0].off"},
		{mod(0, func(r *Rule) { r.Tiers[0].Pct = d("5") }), "tiers[0].pct"},
		{mod(0, func(r *Rule) { r.Pct = d("5") }), "pct"},
		{mod(0, func(r *Rule) { r.MaxTimes = 2 }), "max_times"},
		{mod(0, func(r *Rule) { r.Repeat = true; r.Tiers = append(r.Tiers, Tier{Threshold: d("2000"), Off: d("1")}) }), "tiers"},
		{mod(1, func(r *Rule) { r.Tiers[1].Threshold = d("1000.00") }), "tiers[1].threshold"},
		{mod(1, func(r *Rule) { r.Tiers[1].Pct = d("100.01") }), "tiers[1].pct"},
		{mod(1, func(r *Rule) { r.Tiers[0].Off = d("1") }), "tiers[0].off"},
		{mod(1, func(r *Rule) { r.Repeat = true }), "repeat"},
		{mod(2, func(r *Rule) { r.Scope = Scope{} }), "scope"},
		{mod(2, func(r *Rule) { r.Scope.SKUs = []string{""} }), "scope.skus[0]"},
		{mod(2, func(r *Rule) { r.BuyQty = 0 }), "buy_qty"},
		{mod(2, func(r *Rule) { r.GiftSKU = "" }), "gift_sku"},
		{mod(2, func(r *Rule) { r.GiftQty = -1 }), "gift_qty"},
		{mod(2, func(r *Rule) { r.MaxTimes = -1 }), "max_times"},
		{mod(3, func(r *Rule) { r.Scope = Scope{SKUs: []string{"A"}} }), "scope.series"},
		{mod(4, func(r *Rule) { r.Pct = decimal.Zero }), "pct"},
		{mod(4, func(r *Rule) { r.Pct = d("0.00001") }), "pct"},
		{mod(4, func(r *Rule) { r.GiftSKU = "K" }), "gift_sku"},
		{mod(5, func(r *Rule) { r.Bundle = nil }), "bundle"},
		{mod(5, func(r *Rule) { r.Bundle[0].Qty = 0 }), "bundle[0].qty"},
		{mod(5, func(r *Rule) { r.Bundle = append(r.Bundle, BundleItem{SKU: "A", Qty: 2}) }), "bundle[1].sku"},
		{mod(5, func(r *Rule) { r.BundlePrice = decimal.Zero }), "bundle_price"},
		{mod(6, func(r *Rule) { r.Scope = Scope{} }), "scope"},
		{mod(6, func(r *Rule) { r.Tiers = []Tier{{Threshold: d("1"), Pct: d("1")}} }), "tiers"},
	} {
		err := c.rule.Validate()
		var fe *FieldError
		if !errors.Is(err, ErrInvalid) || !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%+v: err = %v, want a FieldError on %s", c.rule, err, c.field)
		}
	}
	err := ValidateAll([]Rule{valid[0], valid[1], valid[0]})
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "id" || !strings.Contains(err.Error(), "rules[2]") {
		t.Errorf("duplicate: %v", err)
	}
}

func TestJSON(t *testing.T) {
	draft := `{
		"id": "DOUBLE11-M1", "campaign_id": "DOUBLE11", "kind": "spend_off", "priority": 10,
		"exclusivity_group": "order-off",
		"valid_from": "2026-11-01T00:00:00+08:00", "valid_to": "2026-11-12T00:00:00+08:00",
		"target": {"grades": ["A", "B"], "regions": ["east"]},
		"caps": {"uses_per_buyer": 3, "budget": "200000.00"},
		"tiers": [{"threshold": "10000.00", "off": "500.00"}], "repeat": true, "max_times": 5
	}`
	r, err := Parse([]byte(draft))
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != "DOUBLE11-M1" || r.Kind != KindSpendOff || r.Priority != 10 || !r.Repeat || r.MaxTimes != 5 ||
		r.Caps.UsesPerBuyer != 3 || !r.Caps.Budget.Equal(d("200000")) || !r.Tiers[0].Off.Equal(d("500")) ||
		!r.ValidTo.Equal(time.Date(2026, 11, 12, 0, 0, 0, 0, cst)) || len(r.Target.Grades) != 2 {
		t.Fatalf("parsed %+v", r)
	}
	// Round trip: marshal, parse, marshal gives the same JSON.
	a, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Parse(a)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(r2)
	if string(a) != string(b) {
		t.Errorf("round trip:\n%s\n%s", a, b)
	}
	// Unused parameters are left out.
	if strings.Contains(string(a), "bundle") || strings.Contains(string(a), "gift") {
		t.Errorf("marshalled %s", a)
	}
	// Parse refuses bad JSON and invalid rules, naming the field.
	if _, err := Parse([]byte(`{"id": 1}`)); err == nil {
		t.Error("bad JSON accepted")
	}
	_, err = Parse([]byte(`{"id": "x", "kind": "percent_off", "tiers": [{"threshold": "100", "pct": "120"}]}`))
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "tiers[0].pct" {
		t.Errorf("invalid rule: %v", err)
	}
}
