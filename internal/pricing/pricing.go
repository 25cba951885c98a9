// Package pricing prices a purchase order: list price, then the buyer's
// grade discount, then the order-amount discount ladder, then promotions,
// then an offset from the buyer's available credit notes (抵扣货款). It is
// pure and deterministic — no I/O, no clock, no map iteration — so workflows,
// the quote endpoint and the order endpoint all get the same answer, and
// every amount says where it comes from.
//
// Rounding: amounts are CNY to the fen (2 decimals). Each discount is
// rounded half away from zero to the fen where it is computed — the grade
// discount per line, the ladder discount on the order, each promotion's
// adjustment — and totals are sums of rounded amounts, so the lines always
// add up to the total exactly.
package pricing

import (
	"errors"
	"fmt"
	"slices"

	"github.com/shopspring/decimal"
)

// Scale is the number of decimals amounts are rounded to.
const Scale = 2

var hundred = decimal.NewFromInt(100)

// Item is one line to price.
type Item struct {
	SKU       string          `json:"sku"`
	Series    string          `json:"series"`
	Qty       int64           `json:"qty"`
	ListPrice decimal.Decimal `json:"list_price"`
}

// Tier is a step of the order-amount discount ladder: orders whose amount
// after the grade discount reaches Threshold get DiscountPct off.
type Tier struct {
	Threshold   decimal.Decimal `json:"threshold"`
	DiscountPct decimal.Decimal `json:"discount_pct"`
}

// Buyer is who is buying, as promotions need to know to target them.
type Buyer struct {
	Kind   string `json:"kind"` // agent or store
	Code   string `json:"code"`
	Grade  string `json:"grade"`
	Region string `json:"region"`
	Agent  string `json:"agent"`
}

// Input is everything pricing needs.
type Input struct {
	Buyer            Buyer
	Items            []Item
	GradeDiscountPct decimal.Decimal
	Ladder           []Tier
	Promotions       []Rule
	// AvailableCredit is the buyer's unspent credit-note balance; up to the
	// order's amount of it is offset against payment.
	AvailableCredit decimal.Decimal
}

// Step explains one amount: which rule produced it and how.
type Step struct {
	Rule   string          `json:"rule"`
	Amount decimal.Decimal `json:"amount"`
	Note   string          `json:"note"`
}

// Line is a priced line.
type Line struct {
	SKU string `json:"sku"`
	// Series is the item's product series, as promotions scoped to a series
	// need it.
	Series        string          `json:"series,omitempty"`
	Qty           int64           `json:"qty"`
	ListPrice     decimal.Decimal `json:"list_price"`
	ListAmount    decimal.Decimal `json:"list_amount"`
	GradeDiscount decimal.Decimal `json:"grade_discount"`
	NetAmount     decimal.Decimal `json:"net_amount"`
	// NetValue is the line's share of the order's net total (after the
	// amount ladder and promotions): see Allocate. Returns are valued from
	// it, and a period's volume by SKU adds it up.
	NetValue decimal.Decimal `json:"net_value"`
	Steps    []Step          `json:"steps"`
}

// Quote is a priced order.
type Quote struct {
	Lines []Line `json:"lines"`
	// ListTotal is the sum of list amounts.
	ListTotal decimal.Decimal `json:"list_total"`
	// GradeDiscount is the sum of the lines' grade discounts.
	GradeDiscount decimal.Decimal `json:"grade_discount"`
	// LadderDiscount is the order-amount ladder discount.
	LadderDiscount decimal.Decimal `json:"ladder_discount"`
	// PromotionDiscount is the sum of promotion adjustments.
	PromotionDiscount decimal.Decimal `json:"promotion_discount"`
	// DiscountTotal = GradeDiscount + LadderDiscount + PromotionDiscount.
	DiscountTotal decimal.Decimal `json:"discount_total"`
	// NetTotal = ListTotal − DiscountTotal: the order's value.
	NetTotal decimal.Decimal `json:"net_total"`
	// CreditOffset is paid from credit notes.
	CreditOffset decimal.Decimal `json:"credit_offset"`
	// Payable = NetTotal − CreditOffset: what the buyer owes.
	Payable decimal.Decimal `json:"payable"`
	// Steps explains the order-level amounts in the order they applied.
	Steps []Step `json:"steps"`
	// Promotions lists every promotion considered, applied or not, and why.
	Promotions []PromotionResult `json:"promotions"`
	// FreeGoods are goods promotions give free of charge (搭赠): they carry
	// no price and reduce no amount, but must be shipped. Rules append them
	// in Apply.
	FreeGoods []FreeGood `json:"free_goods,omitempty"`
	// RebateRates are rebate bonus rates promotions grant on the order's
	// SKUs, for quarterly settlement to read. Rules append them in Apply.
	RebateRates []RebateRate `json:"rebate_rates,omitempty"`
}

// FreeGood is a line of goods given free by a promotion.
type FreeGood struct {
	SKU  string `json:"sku"`
	Qty  int64  `json:"qty"`
	Rule string `json:"rule"`
	Note string `json:"note"`
}

// RebateRate is a rebate bonus rate (percent of the SKU's purchase amount)
// a promotion grants on one SKU of the order.
type RebateRate struct {
	SKU      string          `json:"sku"`
	Rule     string          `json:"rule"`
	Campaign string          `json:"campaign,omitempty"`
	Pct      decimal.Decimal `json:"pct"`
}

// Rule is a promotion rule. The campaign process supplies them; pricing
// applies them in priority order to the order as priced so far.
type Rule interface {
	// ID names the rule in explanations.
	ID() string
	// Apply returns the discount the rule gives on the order so far (zero or
	// positive, rounded to the fen), or applies=false with the reason why not.
	Apply(buyer Buyer, q *Quote) (discount decimal.Decimal, note string, applies bool)
}

// PromotionResult says what one promotion did.
type PromotionResult struct {
	Rule     string          `json:"rule"`
	Applied  bool            `json:"applied"`
	Discount decimal.Decimal `json:"discount"`
	Note     string          `json:"note"`
}

// ErrInput is returned for an input pricing cannot price.
var ErrInput = errors.New("pricing: invalid input")

// Price prices the order.
func Price(in Input) (Quote, error) {
	if len(in.Items) == 0 {
		return Quote{}, fmt.Errorf("%w: no items", ErrInput)
	}
	if in.GradeDiscountPct.IsNegative() || in.GradeDiscountPct.GreaterThan(hundred) {
		return Quote{}, fmt.Errorf("%w: grade discount %s%% out of 0..100", ErrInput, in.GradeDiscountPct)
	}
	if in.AvailableCredit.IsNegative() {
		return Quote{}, fmt.Errorf("%w: negative available credit", ErrInput)
	}
	q := Quote{Lines: make([]Line, 0, len(in.Items)), Steps: []Step{}, Promotions: []PromotionResult{}}
	for _, it := range in.Items {
		if it.Qty <= 0 || !it.ListPrice.IsPositive() {
			return Quote{}, fmt.Errorf("%w: %s: quantity and list price must be positive", ErrInput, it.SKU)
		}
		listAmount := it.ListPrice.Mul(decimal.NewFromInt(it.Qty))
		disc := listAmount.Mul(in.GradeDiscountPct).Div(hundred).Round(Scale)
		l := Line{
			SKU: it.SKU, Series: it.Series, Qty: it.Qty, ListPrice: it.ListPrice, ListAmount: listAmount,
			GradeDiscount: disc, NetAmount: listAmount.Sub(disc),
			Steps: []Step{
				{Rule: "list_price", Amount: listAmount, Note: fmt.Sprintf("%d × %s", it.Qty, it.ListPrice.StringFixed(Scale))},
				{Rule: "grade_discount", Amount: disc.Neg(), Note: fmt.Sprintf("grade %s: %s%% of %s, rounded to the fen", in.Buyer.Grade, in.GradeDiscountPct.String(), listAmount.StringFixed(Scale))},
			},
		}
		q.Lines = append(q.Lines, l)
		q.ListTotal = q.ListTotal.Add(listAmount)
		q.GradeDiscount = q.GradeDiscount.Add(disc)
	}
	afterGrade := q.ListTotal.Sub(q.GradeDiscount)
	q.Steps = append(q.Steps,
		Step{Rule: "list_total", Amount: q.ListTotal, Note: "sum of list amounts"},
		Step{Rule: "grade_discount", Amount: q.GradeDiscount.Neg(), Note: fmt.Sprintf("grade %s discount %s%% on every line", in.Buyer.Grade, in.GradeDiscountPct.String())})

	// The ladder: the highest tier reached by the amount after grade discount.
	ladder := slices.Clone(in.Ladder)
	slices.SortFunc(ladder, func(a, b Tier) int { return a.Threshold.Cmp(b.Threshold) })
	var tier *Tier
	for i := range ladder {
		if afterGrade.GreaterThanOrEqual(ladder[i].Threshold) {
			tier = &ladder[i]
		}
	}
	if tier != nil {
		q.LadderDiscount = afterGrade.Mul(tier.DiscountPct).Div(hundred).Round(Scale)
		q.Steps = append(q.Steps, Step{Rule: "amount_ladder", Amount: q.LadderDiscount.Neg(),
			Note: fmt.Sprintf("order amount %s reaches the %s tier: %s%% off", afterGrade.StringFixed(Scale), tier.Threshold.StringFixed(Scale), tier.DiscountPct.String())})
	} else if len(ladder) > 0 {
		q.Steps = append(q.Steps, Step{Rule: "amount_ladder", Amount: decimal.Zero,
			Note: fmt.Sprintf("order amount %s is below the first tier (%s)", afterGrade.StringFixed(Scale), ladder[0].Threshold.StringFixed(Scale))})
	}
	q.DiscountTotal = q.GradeDiscount.Add(q.LadderDiscount)
	q.NetTotal = q.ListTotal.Sub(q.DiscountTotal)

	// Promotions, in the order given (the campaign engine orders them).
	for _, r := range in.Promotions {
		disc, note, ok := r.Apply(in.Buyer, &q)
		res := PromotionResult{Rule: r.ID(), Applied: ok, Note: note, Discount: decimal.Zero}
		if ok {
			disc = decimal.Min(disc.Round(Scale), q.NetTotal) // never below zero
			if disc.IsNegative() {
				disc = decimal.Zero
			}
			res.Discount = disc
			q.PromotionDiscount = q.PromotionDiscount.Add(disc)
			q.DiscountTotal = q.DiscountTotal.Add(disc)
			q.NetTotal = q.NetTotal.Sub(disc)
			q.Steps = append(q.Steps, Step{Rule: "promotion:" + r.ID(), Amount: disc.Neg(), Note: note})
		}
		q.Promotions = append(q.Promotions, res)
	}

	values := Allocate(q.NetTotal, lineAmounts(q.Lines))
	for i := range q.Lines {
		q.Lines[i].NetValue = values[i]
	}

	// Credit notes pay what they can.
	q.CreditOffset = decimal.Min(in.AvailableCredit, q.NetTotal)
	if q.CreditOffset.IsPositive() {
		q.Steps = append(q.Steps, Step{Rule: "credit_offset", Amount: q.CreditOffset.Neg(),
			Note: fmt.Sprintf("offset from credit notes (available %s)", in.AvailableCredit.StringFixed(Scale))})
	}
	q.Payable = q.NetTotal.Sub(q.CreditOffset)
	q.Steps = append(q.Steps, Step{Rule: "payable", Amount: q.Payable, Note: "net total less credit offset"})
	return q, nil
}

func lineAmounts(ls []Line) []decimal.Decimal {
	out := make([]decimal.Decimal, len(ls))
	for i, l := range ls {
		out[i] = l.NetAmount
	}
	return out
}

// Allocate splits total (to the fen) across parts in proportion to weights,
// so the parts add up to total exactly: each part is its exact share rounded
// down to the fen, and the fens left over go one each to the parts with the
// largest remainders (ties: the earlier part). With no positive weight the
// whole total goes to the first part. Weights must not be negative.
func Allocate(total decimal.Decimal, weights []decimal.Decimal) []decimal.Decimal {
	out := make([]decimal.Decimal, len(weights))
	for i := range out {
		out[i] = decimal.Zero
	}
	if len(weights) == 0 {
		return out
	}
	sum := decimal.Zero
	for _, w := range weights {
		sum = sum.Add(w)
	}
	if !sum.IsPositive() {
		out[0] = total
		return out
	}
	fen := decimal.New(1, -Scale)
	type rem struct {
		i    int
		frac decimal.Decimal
	}
	rems := make([]rem, len(weights))
	given := decimal.Zero
	for i, w := range weights {
		exact := total.Mul(w).DivRound(sum, 12)
		out[i] = exact.RoundFloor(Scale)
		rems[i] = rem{i, exact.Sub(out[i])}
		given = given.Add(out[i])
	}
	slices.SortStableFunc(rems, func(a, b rem) int { return b.frac.Cmp(a.frac) })
	left := total.Sub(given).Div(fen).IntPart()
	for k := 0; k < int(left) && k < len(rems); k++ {
		out[rems[k].i] = out[rems[k].i].Add(fen)
	}
	return out
}
