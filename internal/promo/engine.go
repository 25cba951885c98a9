package promo

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Buyer is who is buying, as targeting reads it.
type Buyer struct {
	Kind      string `json:"kind"` // agent or store
	Code      string `json:"code"`
	Grade     string `json:"grade"`
	Agent     string `json:"agent"` // the agent itself, or the store's agent
	StoreKind string `json:"store_kind,omitempty"`
	Region    string `json:"region"`
	Channel   string `json:"channel,omitempty"`
}

// Usage is what a rule has given so far.
type Usage struct {
	// BuyerUses is how many of this buyer's orders the rule applied to.
	BuyerUses int `json:"buyer_uses"`
	// BudgetSpent is the discount the rule has given over all orders.
	BudgetSpent decimal.Decimal `json:"budget_spent"`
}

// Context is everything about the moment of evaluation: when, who, and the
// usage so far by rule ID (a missing rule has no usage). The engine reads
// nothing else.
type Context struct {
	At    time.Time        `json:"at"`
	Buyer Buyer            `json:"buyer"`
	Usage map[string]Usage `json:"usage,omitempty"`
}

// Line is an order line as promotions read it.
type Line struct {
	SKU    string `json:"sku"`
	Series string `json:"series"`
	Qty    int64  `json:"qty"`
	// Amount is the line's value before promotions (after the grade
	// discount, when pricing supplies it).
	Amount decimal.Decimal `json:"amount"`
}

// Order is the order to evaluate.
type Order struct {
	Lines []Line `json:"lines"`
	// Amount is the order's value before promotions, which unscoped
	// thresholds read (after grade discount and amount ladder, when pricing
	// supplies it).
	Amount decimal.Decimal `json:"amount"`
}

// Reason says why a rule applied or not.
type Reason string

// The reasons.
const (
	ReasonApplied       Reason = "applied"
	ReasonBudgetCapped  Reason = "applied_budget_capped" // applied, discount capped to the remaining budget
	ReasonOrderCapped   Reason = "applied_order_capped"  // applied, discount capped to what remains of the order
	ReasonInvalid       Reason = "invalid"
	ReasonDuplicate     Reason = "duplicate_id"
	ReasonOutsideWindow Reason = "outside_window"
	ReasonNotTargeted   Reason = "not_targeted"
	ReasonUsesExhausted Reason = "uses_exhausted"
	ReasonNotReached    Reason = "threshold_not_reached"
	ReasonBudgetGone    Reason = "budget_exhausted"
	ReasonExclusive     Reason = "exclusive"
)

// FreeGood is a line of goods a rule gives free: no price, no reduction,
// but it must be shipped.
type FreeGood struct {
	SKU    string `json:"sku"`
	Qty    int64  `json:"qty"`
	Rule   string `json:"rule"`
	Reason string `json:"reason"`
}

// RebateRate is a rebate bonus rate (percent of the SKU's purchase amount)
// a rule grants on one SKU of the order, for quarterly settlement.
type RebateRate struct {
	SKU      string          `json:"sku"`
	Rule     string          `json:"rule"`
	Campaign string          `json:"campaign,omitempty"`
	Pct      decimal.Decimal `json:"pct"`
}

// Outcome is what one rule did.
type Outcome struct {
	Rule     string `json:"rule"`
	Campaign string `json:"campaign,omitempty"`
	Kind     Kind   `json:"kind"`
	Applied  bool   `json:"applied"`
	Reason   Reason `json:"reason"`
	// Note explains the outcome in words, with the arithmetic.
	Note string `json:"note"`
	// Discount is the amount off the order (zero unless applied).
	Discount decimal.Decimal `json:"discount"`
	// Shortfall is how far the order is from the rule's lowest threshold
	// (an amount, or units for gift kinds), when Reason is
	// threshold_not_reached.
	Shortfall decimal.Decimal `json:"shortfall,omitzero"`
	// ExclusiveWith is the rule that won the exclusivity group.
	ExclusiveWith string       `json:"exclusive_with,omitempty"`
	FreeGoods     []FreeGood   `json:"free_goods,omitempty"`
	RebateRates   []RebateRate `json:"rebate_rates,omitempty"`
}

// Result is the evaluation of an order: one outcome per rule, in the order
// the rules were considered (Priority, then ID), and the totals.
type Result struct {
	Outcomes []Outcome `json:"outcomes"`
	// Discount is the sum of the applied rules' discounts.
	Discount    decimal.Decimal `json:"discount"`
	FreeGoods   []FreeGood      `json:"free_goods"`
	RebateRates []RebateRate    `json:"rebate_rates"`
}

// Outcome returns the outcome of the rule with the given ID.
func (r Result) Outcome(id string) (Outcome, bool) {
	for _, o := range r.Outcomes {
		if o.Rule == id {
			return o, true
		}
	}
	return Outcome{}, false
}

// Sorted returns the rules in the order the engine considers them:
// Priority ascending, then ID.
func Sorted(rules []Rule) []Rule {
	out := slices.Clone(rules)
	slices.SortStableFunc(out, func(a, b Rule) int {
		return cmp.Or(cmp.Compare(a.Priority, b.Priority), strings.Compare(a.ID, b.ID))
	})
	return out
}

// Evaluate applies the rules to the order. It never fails: a rule that is
// invalid, or a second rule with the same ID, is passed over with its
// reason.
func Evaluate(ctx Context, order Order, rules []Rule) Result {
	sorted := Sorted(rules)
	outs := make([]Outcome, len(sorted))
	seen := make(map[string]bool, len(sorted))
	for i, r := range sorted {
		o := Outcome{Rule: r.ID, Campaign: r.CampaignID, Kind: r.Kind, Discount: decimal.Zero}
		switch {
		case seen[r.ID]:
			o.Reason, o.Note = ReasonDuplicate, "another rule has the same ID"
		default:
			consider(ctx, order, r, &o)
		}
		seen[r.ID] = true
		outs[i] = o
	}

	// Exclusivity: of the rules of one group that would apply, the best
	// priority, then the largest discount, then the smallest ID wins.
	for i, r := range sorted {
		if r.ExclusivityGroup == "" || !outs[i].Applied {
			continue
		}
		win := i
		for j, s := range sorted {
			if j == i || s.ExclusivityGroup != r.ExclusivityGroup || !outs[j].Applied || outs[j].Reason == ReasonExclusive {
				continue
			}
			if better(sorted[j], outs[j], sorted[win], outs[win]) {
				win = j
			}
		}
		if win != i {
			outs[i].Applied, outs[i].Reason = false, ReasonExclusive
			outs[i].ExclusiveWith = sorted[win].ID
			outs[i].Note = fmt.Sprintf("passed over: exclusive with %s (group %s); would have given: %s", sorted[win].ID, r.ExclusivityGroup, outs[i].Note)
			outs[i].Discount, outs[i].FreeGoods, outs[i].RebateRates = decimal.Zero, nil, nil
		}
	}

	// Totals, never more discount than the order is worth.
	res := Result{Outcomes: outs, Discount: decimal.Zero, FreeGoods: []FreeGood{}, RebateRates: []RebateRate{}}
	for i := range outs {
		o := &outs[i]
		if !o.Applied {
			continue
		}
		if left := order.Amount.Sub(res.Discount); o.Discount.GreaterThan(left) {
			left = decimal.Max(left, decimal.Zero)
			o.Note += fmt.Sprintf("; capped to the %s left of the order", left.StringFixed(Scale))
			o.Discount, o.Reason = left, ReasonOrderCapped
		}
		res.Discount = res.Discount.Add(o.Discount)
		res.FreeGoods = append(res.FreeGoods, o.FreeGoods...)
		res.RebateRates = append(res.RebateRates, o.RebateRates...)
	}
	return res
}

// better reports whether rule a with outcome x beats rule b with outcome y
// in an exclusivity group.
func better(a Rule, x Outcome, b Rule, y Outcome) bool {
	if a.Priority != b.Priority {
		return a.Priority < b.Priority
	}
	if c := x.Discount.Cmp(y.Discount); c != 0 {
		return c > 0
	}
	return a.ID < b.ID
}

// consider decides one rule on its own: validity, window, target, uses,
// what it gives, budget.
func consider(ctx Context, order Order, r Rule, o *Outcome) {
	if err := r.Validate(); err != nil {
		o.Reason, o.Note = ReasonInvalid, err.Error()
		return
	}
	if !r.ValidFrom.IsZero() && ctx.At.Before(r.ValidFrom) {
		o.Reason, o.Note = ReasonOutsideWindow, fmt.Sprintf("outside window: starts %s", r.ValidFrom.Format(time.RFC3339))
		return
	}
	if !r.ValidTo.IsZero() && !ctx.At.Before(r.ValidTo) {
		o.Reason, o.Note = ReasonOutsideWindow, fmt.Sprintf("outside window: ended %s", r.ValidTo.Format(time.RFC3339))
		return
	}
	if why := notTargeted(r.Target, ctx.Buyer); why != "" {
		o.Reason, o.Note = ReasonNotTargeted, "not targeted: "+why
		return
	}
	use := ctx.Usage[r.ID]
	if r.Caps.UsesPerBuyer > 0 && use.BuyerUses >= r.Caps.UsesPerBuyer {
		o.Reason, o.Note = ReasonUsesExhausted, fmt.Sprintf("uses per buyer exhausted: %d of %d used", use.BuyerUses, r.Caps.UsesPerBuyer)
		return
	}
	if !compute(order, r, o) {
		o.Reason = ReasonNotReached
		return
	}
	o.Applied, o.Reason = true, ReasonApplied
	if r.Caps.Budget.IsPositive() {
		left := r.Caps.Budget.Sub(use.BudgetSpent)
		switch {
		case !left.IsPositive():
			o.Applied, o.Reason, o.Discount = false, ReasonBudgetGone, decimal.Zero
			o.Note = fmt.Sprintf("budget exhausted: %s of %s spent", use.BudgetSpent.StringFixed(Scale), r.Caps.Budget.StringFixed(Scale))
		case o.Discount.GreaterThan(left):
			o.Note += fmt.Sprintf("; capped to the budget left, %s (%s of %s spent)", left.StringFixed(Scale), use.BudgetSpent.StringFixed(Scale), r.Caps.Budget.StringFixed(Scale))
			o.Discount, o.Reason = left, ReasonBudgetCapped
		}
	}
}

// notTargeted says which dimension of the target leaves the buyer out, or "".
func notTargeted(t Target, b Buyer) string {
	dims := []struct {
		name  string
		want  []string
		value string
	}{
		{"buyer kind", t.BuyerKinds, b.Kind},
		{"grade", t.Grades, b.Grade},
		{"agent", t.Agents, b.Agent},
		{"store kind", t.StoreKinds, b.StoreKind},
		{"region", t.Regions, b.Region},
		{"channel", t.Channels, b.Channel},
	}
	for _, d := range dims {
		if len(d.want) > 0 && !slices.Contains(d.want, d.value) {
			return fmt.Sprintf("%s %q not in [%s]", d.name, d.value, strings.Join(d.want, ", "))
		}
	}
	return ""
}

// compute works out what a valid, targeted rule gives the order; false
// (with the note and shortfall set) when the order does not qualify.
func compute(order Order, r Rule, o *Outcome) bool {
	switch r.Kind {
	case KindSpendOff, KindPercentOff:
		base, what := order.Amount, "order amount"
		if !r.Scope.IsZero() {
			base, _ = scoped(order, r.Scope)
			what = "amount of " + scopeName(r.Scope)
		}
		if r.Kind == KindSpendOff && r.Repeat {
			t := r.Tiers[0]
			times := base.Div(t.Threshold).Floor().IntPart()
			if times < 1 {
				return short(o, t.Threshold.Sub(base), fmt.Sprintf("%s %s is %s short of %s", what, base.StringFixed(Scale), t.Threshold.Sub(base).StringFixed(Scale), t.Threshold.StringFixed(Scale)))
			}
			capped := ""
			if r.MaxTimes > 0 && times > int64(r.MaxTimes) {
				times, capped = int64(r.MaxTimes), fmt.Sprintf(" (at most %d times)", r.MaxTimes)
			}
			o.Discount = t.Off.Mul(decimal.NewFromInt(times)).Round(Scale)
			o.Note = fmt.Sprintf("%s %s: %d × %s reached%s, %d × %s = %s off", what, base.StringFixed(Scale), times, t.Threshold.StringFixed(Scale), capped, times, t.Off.StringFixed(Scale), o.Discount.StringFixed(Scale))
			return true
		}
		var tier *Tier
		for i := range r.Tiers {
			if base.GreaterThanOrEqual(r.Tiers[i].Threshold) {
				tier = &r.Tiers[i]
			}
		}
		if tier == nil {
			t := r.Tiers[0]
			return short(o, t.Threshold.Sub(base), fmt.Sprintf("%s %s is %s short of %s", what, base.StringFixed(Scale), t.Threshold.Sub(base).StringFixed(Scale), t.Threshold.StringFixed(Scale)))
		}
		if r.Kind == KindSpendOff {
			o.Discount = tier.Off
			o.Note = fmt.Sprintf("%s %s reaches %s: %s off", what, base.StringFixed(Scale), tier.Threshold.StringFixed(Scale), tier.Off.StringFixed(Scale))
		} else {
			o.Discount = base.Mul(tier.Pct).Div(hundred).Round(Scale)
			o.Note = fmt.Sprintf("%s %s reaches %s: %s%% off = %s, rounded to the fen", what, base.StringFixed(Scale), tier.Threshold.StringFixed(Scale), tier.Pct.String(), o.Discount.StringFixed(Scale))
		}
		return true

	case KindBuyGetFree, KindNewWithOld:
		_, qty := scoped(order, r.Scope)
		if qty < r.BuyQty {
			return short(o, decimal.NewFromInt(r.BuyQty-qty), fmt.Sprintf("%d units of %s bought, %d more needed for %d", qty, scopeName(r.Scope), r.BuyQty-qty, r.BuyQty))
		}
		times := int64(1)
		if r.Repeat {
			times = qty / r.BuyQty
		}
		capped := ""
		if r.MaxTimes > 0 && times > int64(r.MaxTimes) {
			times, capped = int64(r.MaxTimes), fmt.Sprintf(" (at most %d times)", r.MaxTimes)
		}
		gift := times * r.GiftQty
		o.Note = fmt.Sprintf("%d units of %s bought: %d × (%d → %d) %s free%s", qty, scopeName(r.Scope), times, r.BuyQty, r.GiftQty, r.GiftSKU, capped)
		o.FreeGoods = []FreeGood{{SKU: r.GiftSKU, Qty: gift, Rule: r.ID, Reason: o.Note}}
		return true

	case KindItemDiscount:
		amount, qty := scoped(order, r.Scope)
		if qty == 0 {
			return short(o, decimal.Zero, "no line of "+scopeName(r.Scope)+" in the order")
		}
		o.Discount = amount.Mul(r.Pct).Div(hundred).Round(Scale)
		o.Note = fmt.Sprintf("%s%% off %s (%s) = %s, rounded to the fen", r.Pct.String(), scopeName(r.Scope), amount.StringFixed(Scale), o.Discount.StringFixed(Scale))
		return true

	case KindBundlePrice:
		return bundle(order, r, o)

	case KindRebateBonus:
		for _, l := range order.Lines {
			if r.Scope.Matches(l.SKU, l.Series) && !slices.ContainsFunc(o.RebateRates, func(x RebateRate) bool { return x.SKU == l.SKU }) {
				o.RebateRates = append(o.RebateRates, RebateRate{SKU: l.SKU, Rule: r.ID, Campaign: r.CampaignID, Pct: r.Pct})
			}
		}
		if len(o.RebateRates) == 0 {
			return short(o, decimal.Zero, "no line of "+scopeName(r.Scope)+" in the order")
		}
		skus := make([]string, len(o.RebateRates))
		for i, x := range o.RebateRates {
			skus[i] = x.SKU
		}
		o.Note = fmt.Sprintf("rebate bonus %s%% on %s, paid at quarterly settlement", r.Pct.String(), strings.Join(skus, ", "))
		return true
	}
	return false
}

// bundle prices complete bundles at the bundle price: each bundle's value
// is its components' quantities at the lines' unit amounts (line amount ÷
// line qty); the discount is bundles × (value − price), rounded once.
func bundle(order Order, r Rule, o *Outcome) bool {
	times := int64(-1)
	value := decimal.Zero
	var missing []string
	for _, b := range r.Bundle {
		qty, amount := int64(0), decimal.Zero
		for _, l := range order.Lines {
			if l.SKU == b.SKU {
				qty += l.Qty
				amount = amount.Add(l.Amount)
			}
		}
		if qty < b.Qty {
			missing = append(missing, fmt.Sprintf("%d more %s", b.Qty-qty, b.SKU))
			continue
		}
		if n := qty / b.Qty; times < 0 || n < times {
			times = n
		}
		value = value.Add(amount.Mul(decimal.NewFromInt(b.Qty)).Div(decimal.NewFromInt(qty)))
	}
	if len(missing) > 0 {
		return short(o, decimal.Zero, "bundle incomplete: "+strings.Join(missing, ", ")+" needed")
	}
	if !r.Repeat {
		times = 1
	}
	capped := ""
	if r.Repeat && r.MaxTimes > 0 && times > int64(r.MaxTimes) {
		times, capped = int64(r.MaxTimes), fmt.Sprintf(" (at most %d times)", r.MaxTimes)
	}
	n := decimal.NewFromInt(times)
	disc := value.Mul(n).Sub(r.BundlePrice.Mul(n)).Round(Scale)
	if !disc.IsPositive() {
		return short(o, decimal.Zero, fmt.Sprintf("the bundle already costs %s, no more than its price %s", value.Round(Scale).StringFixed(Scale), r.BundlePrice.StringFixed(Scale)))
	}
	o.Discount = disc
	o.Note = fmt.Sprintf("%d bundle(s)%s worth %s each at %s: %d × (%s − %s) = %s off, rounded to the fen", times, capped, value.Round(Scale).StringFixed(Scale), r.BundlePrice.StringFixed(Scale), times, value.Round(Scale).StringFixed(Scale), r.BundlePrice.StringFixed(Scale), disc.StringFixed(Scale))
	return true
}

// short records why an order does not qualify and returns false.
func short(o *Outcome, by decimal.Decimal, note string) bool {
	o.Shortfall, o.Note = by, "threshold not reached: "+note
	return false
}

// scoped sums the amount and quantity of the order's lines in scope.
func scoped(order Order, s Scope) (decimal.Decimal, int64) {
	amount, qty := decimal.Zero, int64(0)
	for _, l := range order.Lines {
		if s.Matches(l.SKU, l.Series) {
			amount, qty = amount.Add(l.Amount), qty+l.Qty
		}
	}
	return amount, qty
}

func scopeName(s Scope) string {
	var parts []string
	if len(s.SKUs) > 0 {
		parts = append(parts, "SKU "+strings.Join(s.SKUs, "/"))
	}
	if len(s.Series) > 0 {
		parts = append(parts, "series "+strings.Join(s.Series, "/"))
	}
	return strings.Join(parts, " or ")
}
