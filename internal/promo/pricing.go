package promo

import (
	"github.com/alliance/backoffice/internal/pricing"
	"github.com/shopspring/decimal"
)

// PricingRules adapts rules to pricing: one pricing.Rule per rule, in the
// order the engine considers them, to pass together and in that order as
// pricing.Input.Promotions. Then pricing.Price lists every rule in
// Quote.Promotions — applied with its discount, or passed over with the
// reason — appends free goods to Quote.FreeGoods and rebate bonus rates to
// Quote.RebateRates.
//
// Each adapter evaluates all the rules on the order as it stood before
// promotions (Quote.NetTotal + Quote.PromotionDiscount, and the lines' net
// amounts), so the adapters hold no state and give the same answer whatever
// pricing did before; exclusivity and the order cap therefore hold across
// them. Buyer fields missing from ctx.Buyer are taken from the buyer
// pricing passes.
func PricingRules(ctx Context, rules []Rule) []pricing.Rule {
	sorted := Sorted(rules)
	out := make([]pricing.Rule, len(sorted))
	for i, r := range sorted {
		out[i] = pricingRule{ctx: ctx, rules: sorted, index: i, id: r.ID}
	}
	return out
}

type pricingRule struct {
	ctx   Context
	rules []Rule
	index int
	id    string
}

// ID implements pricing.Rule.
func (p pricingRule) ID() string { return p.id }

// Apply implements pricing.Rule.
func (p pricingRule) Apply(b pricing.Buyer, q *pricing.Quote) (decimal.Decimal, string, bool) {
	ctx := p.ctx
	ctx.Buyer = mergeBuyer(ctx.Buyer, b)
	res := Evaluate(ctx, OrderFromQuote(q), p.rules)
	o := res.Outcomes[p.index]
	if !o.Applied {
		return decimal.Zero, o.Note, false
	}
	for _, g := range o.FreeGoods {
		q.FreeGoods = append(q.FreeGoods, pricing.FreeGood{SKU: g.SKU, Qty: g.Qty, Rule: g.Rule, Note: g.Reason})
	}
	for _, r := range o.RebateRates {
		q.RebateRates = append(q.RebateRates, pricing.RebateRate{SKU: r.SKU, Rule: r.Rule, Campaign: r.Campaign, Pct: r.Pct})
	}
	return o.Discount, o.Note, true
}

// OrderFromQuote is the order as promotions read it from a quote: the lines'
// net amounts (after grade discount), and the order amount before any
// promotion (after the amount ladder).
func OrderFromQuote(q *pricing.Quote) Order {
	o := Order{Lines: make([]Line, len(q.Lines)), Amount: q.NetTotal.Add(q.PromotionDiscount)}
	for i, l := range q.Lines {
		o.Lines[i] = Line{SKU: l.SKU, Series: l.Series, Qty: l.Qty, Amount: l.NetAmount}
	}
	return o
}

func mergeBuyer(c Buyer, b pricing.Buyer) Buyer {
	fill := func(dst *string, src string) {
		if *dst == "" {
			*dst = src
		}
	}
	fill(&c.Kind, b.Kind)
	fill(&c.Code, b.Code)
	fill(&c.Grade, b.Grade)
	fill(&c.Agent, b.Agent)
	fill(&c.Region, b.Region)
	return c
}
