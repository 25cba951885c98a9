// Package promo is the promotion engine of the campaign process (issue #5):
// it decides which campaign rules apply to an order, what each gives —
// an amount off, free goods, a rebate bonus rate — and, for every rule that
// does not apply, why not.
//
// It is pure and deterministic: no I/O, no clock, no map iteration for
// order. The order time, the buyer and the usage so far are passed in
// Context; rules are considered by Priority (lower first), then ID.
//
// # Amounts and rounding
//
// Amounts are CNY decimals (shopspring/decimal). Every rule reads the order
// as it stands before promotions — promotion discounts do not compound —
// and each rule's discount is rounded once, half away from zero, to the fen
// where it is computed (e.g. 5% of 100.10 = 5.005 → 5.01). The discounts
// of the applied rules are then summed; their sum never exceeds the order
// amount (a rule that would take it below zero is capped to what remains,
// and says so).
//
// # Kinds
//
//   - [KindSpendOff] 满减: spend Threshold, get Off off; repeatable per
//     Threshold (Repeat, optionally at most MaxTimes) or with several tiers
//     (多坎级: the highest tier reached).
//   - [KindPercentOff]: Pct off the amount once it reaches Threshold; several
//     tiers give the highest tier reached.
//   - [KindBuyGetFree] 搭赠: buy BuyQty units of Scope, get GiftQty of GiftSKU
//     free (the same or another SKU); repeatable.
//   - [KindNewWithOld] 新品搭赠: buy BuyQty units of a new series (Scope.Series),
//     get GiftQty of a best-seller GiftSKU free; repeatable.
//   - [KindItemDiscount]: Pct off the lines of a SKU or series (Scope).
//   - [KindBundlePrice]: the goods of Bundle together cost BundlePrice.
//   - [KindRebateBonus]: a rebate bonus rate Pct on the order's Scope SKUs,
//     which quarterly settlement reads; no discount now.
//
// Amount thresholds read Order.Amount, or, when a spend or percent rule has
// a Scope, the sum of the scoped lines' amounts.
package promo

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/shopspring/decimal"
)

// Scale is the number of decimals discounts are rounded to (the fen).
const Scale = 2

var hundred = decimal.NewFromInt(100)

// Kind is a kind of promotion rule.
type Kind string

// The rule kinds.
const (
	KindSpendOff     Kind = "spend_off"     // 满减
	KindPercentOff   Kind = "percent_off"   // percent off above a threshold
	KindBuyGetFree   Kind = "buy_get_free"  // 搭赠
	KindNewWithOld   Kind = "new_with_old"  // 新品搭赠
	KindItemDiscount Kind = "item_discount" // SKU or series discount
	KindBundlePrice  Kind = "bundle_price"  // bundle price
	KindRebateBonus  Kind = "rebate_bonus"  // rebate bonus rate for settlement
)

// Kinds lists every kind, in a fixed order.
var Kinds = []Kind{KindSpendOff, KindPercentOff, KindBuyGetFree, KindNewWithOld, KindItemDiscount, KindBundlePrice, KindRebateBonus}

// Target says who a rule is for. Each dimension is a list of accepted
// values; an empty list accepts anyone. A buyer is targeted when every
// dimension accepts it.
type Target struct {
	Grades     []string `json:"grades,omitempty"`
	Agents     []string `json:"agents,omitempty"` // the buyer's agent: the agent itself, or a store's agent
	StoreKinds []string `json:"store_kinds,omitempty"`
	Regions    []string `json:"regions,omitempty"`
	Channels   []string `json:"channels,omitempty"`
	BuyerKinds []string `json:"buyer_kinds,omitempty"` // agent, store
}

// Caps limit how often and how much a rule gives. Zero means no limit.
type Caps struct {
	// UsesPerBuyer is how many orders of one buyer the rule may apply to.
	UsesPerBuyer int `json:"uses_per_buyer,omitempty"`
	// Budget is the total discount the rule may give over all orders; an
	// order gets at most what remains. Only for kinds that give a discount.
	Budget decimal.Decimal `json:"budget,omitzero"`
}

// Scope selects order lines by SKU or series; a line matches when its SKU
// or its series is listed.
type Scope struct {
	SKUs   []string `json:"skus,omitempty"`
	Series []string `json:"series,omitempty"`
}

// IsZero reports whether the scope lists nothing.
func (s Scope) IsZero() bool { return len(s.SKUs) == 0 && len(s.Series) == 0 }

// Matches reports whether a line of sku in series is in the scope.
func (s Scope) Matches(sku, series string) bool {
	return slices.Contains(s.SKUs, sku) || (series != "" && slices.Contains(s.Series, series))
}

// Tier is a threshold step: Off (spend_off) or Pct (percent_off) once the
// amount reaches Threshold.
type Tier struct {
	Threshold decimal.Decimal `json:"threshold"`
	Off       decimal.Decimal `json:"off,omitzero"`
	Pct       decimal.Decimal `json:"pct,omitzero"`
}

// BundleItem is one component of a bundle.
type BundleItem struct {
	SKU string `json:"sku"`
	Qty int64  `json:"qty"`
}

// Rule is one promotion rule of a campaign. Common fields come first; the
// rest are the kind's parameters (see the package doc), and Validate refuses
// parameters a kind does not use. It marshals to and from JSON as campaign
// drafts store it.
type Rule struct {
	ID         string `json:"id"`
	CampaignID string `json:"campaign_id,omitempty"`
	Kind       Kind   `json:"kind"`
	// Priority orders rules: lower is considered first and wins within an
	// exclusivity group.
	Priority int `json:"priority"`
	// ExclusivityGroup: empty stacks with everything; of the rules sharing
	// a non-empty group that would apply, only one does — the best
	// priority, then the largest discount, then the smallest ID.
	ExclusivityGroup string `json:"exclusivity_group,omitempty"`
	// ValidFrom and ValidTo are the half-open validity window
	// [ValidFrom, ValidTo); a zero bound is open.
	ValidFrom time.Time `json:"valid_from,omitzero"`
	ValidTo   time.Time `json:"valid_to,omitzero"`
	Target    Target    `json:"target,omitzero"`
	Caps      Caps      `json:"caps,omitzero"`

	// Scope: the lines a rule reads (see the package doc).
	Scope Scope `json:"scope,omitzero"`
	// Tiers: spend_off, percent_off.
	Tiers []Tier `json:"tiers,omitempty"`
	// Repeat: spend_off (per threshold, one tier only), buy_get_free,
	// new_with_old, bundle_price; MaxTimes bounds the repeats (0 = no bound).
	Repeat   bool `json:"repeat,omitempty"`
	MaxTimes int  `json:"max_times,omitempty"`
	// Pct: item_discount (percent off), rebate_bonus (bonus rate).
	Pct decimal.Decimal `json:"pct,omitzero"`
	// BuyQty, GiftSKU, GiftQty: buy_get_free, new_with_old.
	BuyQty  int64  `json:"buy_qty,omitempty"`
	GiftSKU string `json:"gift_sku,omitempty"`
	GiftQty int64  `json:"gift_qty,omitempty"`
	// Bundle, BundlePrice: bundle_price.
	Bundle      []BundleItem    `json:"bundle,omitempty"`
	BundlePrice decimal.Decimal `json:"bundle_price,omitzero"`
}

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("promo: invalid rule")

// FieldError names the field of a rule that is invalid.
type FieldError struct {
	Rule    string // the rule's ID
	Field   string // JSON path of the field, e.g. tiers[1].threshold
	Problem string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("promo: rule %q: %s: %s", e.Rule, e.Field, e.Problem)
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// Parse decodes a rule from JSON and validates it.
func Parse(data []byte) (Rule, error) {
	var r Rule
	if err := json.Unmarshal(data, &r); err != nil {
		return Rule{}, fmt.Errorf("promo: decode rule: %w", err)
	}
	if err := r.Validate(); err != nil {
		return Rule{}, err
	}
	return r, nil
}

// ValidateAll validates every rule and that their IDs are unique.
func ValidateAll(rules []Rule) error {
	seen := make(map[string]bool, len(rules))
	for i, r := range rules {
		if err := r.Validate(); err != nil {
			return fmt.Errorf("rules[%d]: %w", i, err)
		}
		if seen[r.ID] {
			return fmt.Errorf("rules[%d]: %w", i, &FieldError{Rule: r.ID, Field: "id", Problem: "duplicate"})
		}
		seen[r.ID] = true
	}
	return nil
}

// Validate checks the rule; the error is a *FieldError naming the first
// bad field.
func (r Rule) Validate() error {
	bad := func(field, format string, args ...any) error {
		return &FieldError{Rule: r.ID, Field: field, Problem: fmt.Sprintf(format, args...)}
	}
	if r.ID == "" {
		return bad("id", "required")
	}
	if !slices.Contains(Kinds, r.Kind) {
		return bad("kind", "unknown kind %q", r.Kind)
	}
	if r.Priority < 0 {
		return bad("priority", "must not be negative")
	}
	if !r.ValidFrom.IsZero() && !r.ValidTo.IsZero() && !r.ValidTo.After(r.ValidFrom) {
		return bad("valid_to", "must be after valid_from")
	}
	if r.Caps.UsesPerBuyer < 0 {
		return bad("caps.uses_per_buyer", "must not be negative")
	}
	if err := money(r.Caps.Budget); err != "" {
		return bad("caps.budget", "%s", err)
	}
	if !r.Caps.Budget.IsZero() && !r.givesDiscount() {
		return bad("caps.budget", "%s gives no discount to budget", r.Kind)
	}
	if r.MaxTimes < 0 {
		return bad("max_times", "must not be negative")
	}
	for i, s := range r.Scope.SKUs {
		if s == "" {
			return bad(fmt.Sprintf("scope.skus[%d]", i), "empty")
		}
	}
	for i, s := range r.Scope.Series {
		if s == "" {
			return bad(fmt.Sprintf("scope.series[%d]", i), "empty")
		}
	}

	// Which kind-specific fields the kind uses.
	uses := map[string]bool{}
	for _, f := range kindFields[r.Kind] {
		uses[f] = true
	}
	set := []struct {
		name string
		set  bool
	}{
		{"scope", !r.Scope.IsZero()},
		{"tiers", len(r.Tiers) > 0},
		{"repeat", r.Repeat},
		{"max_times", r.MaxTimes != 0},
		{"pct", !r.Pct.IsZero()},
		{"buy_qty", r.BuyQty != 0},
		{"gift_sku", r.GiftSKU != ""},
		{"gift_qty", r.GiftQty != 0},
		{"bundle", len(r.Bundle) > 0},
		{"bundle_price", !r.BundlePrice.IsZero()},
	}
	for _, f := range set {
		if f.set && !uses[f.name] {
			return bad(f.name, "not used by %s", r.Kind)
		}
	}
	if r.MaxTimes != 0 && !r.Repeat {
		return bad("max_times", "only with repeat")
	}

	switch r.Kind {
	case KindSpendOff, KindPercentOff:
		if len(r.Tiers) == 0 {
			return bad("tiers", "at least one tier required")
		}
		if r.Repeat && len(r.Tiers) != 1 {
			return bad("tiers", "a repeating rule has exactly one tier")
		}
		for i, t := range r.Tiers {
			f := fmt.Sprintf("tiers[%d]", i)
			if err := money(t.Threshold); err != "" {
				return bad(f+".threshold", "%s", err)
			}
			if !t.Threshold.IsPositive() {
				return bad(f+".threshold", "must be positive")
			}
			if i > 0 && !t.Threshold.GreaterThan(r.Tiers[i-1].Threshold) {
				return bad(f+".threshold", "tiers must rise strictly")
			}
			if r.Kind == KindSpendOff {
				if !t.Pct.IsZero() {
					return bad(f+".pct", "not used by %s", r.Kind)
				}
				if err := money(t.Off); err != "" {
					return bad(f+".off", "%s", err)
				}
				if !t.Off.IsPositive() || t.Off.GreaterThan(t.Threshold) {
					return bad(f+".off", "must be positive and at most the threshold")
				}
			} else {
				if !t.Off.IsZero() {
					return bad(f+".off", "not used by %s", r.Kind)
				}
				if err := pct(t.Pct); err != "" {
					return bad(f+".pct", "%s", err)
				}
			}
		}
	case KindBuyGetFree, KindNewWithOld:
		if r.Scope.IsZero() {
			return bad("scope", "the goods to buy are required")
		}
		if r.Kind == KindNewWithOld && len(r.Scope.Series) == 0 {
			return bad("scope.series", "the new series is required")
		}
		if r.BuyQty <= 0 {
			return bad("buy_qty", "must be positive")
		}
		if r.GiftSKU == "" {
			return bad("gift_sku", "required")
		}
		if r.GiftQty <= 0 {
			return bad("gift_qty", "must be positive")
		}
	case KindItemDiscount, KindRebateBonus:
		if r.Scope.IsZero() {
			return bad("scope", "at least one SKU or series required")
		}
		if err := pct(r.Pct); err != "" {
			return bad("pct", "%s", err)
		}
	case KindBundlePrice:
		if len(r.Bundle) == 0 {
			return bad("bundle", "at least one item required")
		}
		for i, b := range r.Bundle {
			f := fmt.Sprintf("bundle[%d]", i)
			if b.SKU == "" {
				return bad(f+".sku", "required")
			}
			if b.Qty <= 0 {
				return bad(f+".qty", "must be positive")
			}
			for _, o := range r.Bundle[:i] {
				if o.SKU == b.SKU {
					return bad(f+".sku", "%s listed twice", b.SKU)
				}
			}
		}
		if err := money(r.BundlePrice); err != "" {
			return bad("bundle_price", "%s", err)
		}
		if !r.BundlePrice.IsPositive() {
			return bad("bundle_price", "must be positive")
		}
	}
	return nil
}

// kindFields are the kind-specific fields each kind uses.
var kindFields = map[Kind][]string{
	KindSpendOff:     {"scope", "tiers", "repeat", "max_times"},
	KindPercentOff:   {"scope", "tiers"},
	KindBuyGetFree:   {"scope", "buy_qty", "gift_sku", "gift_qty", "repeat", "max_times"},
	KindNewWithOld:   {"scope", "buy_qty", "gift_sku", "gift_qty", "repeat", "max_times"},
	KindItemDiscount: {"scope", "pct"},
	KindBundlePrice:  {"bundle", "bundle_price", "repeat", "max_times"},
	KindRebateBonus:  {"scope", "pct"},
}

func (r Rule) givesDiscount() bool {
	switch r.Kind {
	case KindSpendOff, KindPercentOff, KindItemDiscount, KindBundlePrice:
		return true
	}
	return false
}

// money checks an amount: not negative, at most two decimals.
func money(d decimal.Decimal) string {
	if d.IsNegative() {
		return "must not be negative"
	}
	if !d.Equal(d.Round(Scale)) {
		return "at most 2 decimals"
	}
	return ""
}

// pct checks a percentage: in (0, 100], at most four decimals.
func pct(d decimal.Decimal) string {
	if !d.IsPositive() || d.GreaterThan(hundred) {
		return "must be in (0, 100]"
	}
	if !d.Equal(d.Round(4)) {
		return "at most 4 decimals"
	}
	return ""
}
