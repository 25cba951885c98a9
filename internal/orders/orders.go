// Package orders holds the order-taking side of order approval: who buys
// from where, on what terms, and the priced quote — shared by the quote
// endpoint, order submission and the order activities.
package orders

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/alliance/backoffice/db/dbgen"
	"github.com/alliance/backoffice/internal/pricing"
	"github.com/alliance/backoffice/internal/promo"
)

// Buyer is an ordering party with the terms it buys on.
type Buyer struct {
	Kind        string // agent (buys from HQ) or store (buys from its agent)
	Code        string
	Agent       string // the agent itself, or the store's agent
	Store       string // the store, for store orders
	Region      string
	StoreKind   string // collection or single_brand, for stores
	Grade       string
	Policy      dbgen.GradePolicy
	CreditLimit decimal.Decimal
	// Warehouse fulfils the buyer's orders: HQ's central warehouse for an
	// agent, the agent's regional warehouse for a store.
	Warehouse string
}

// Errors of LoadBuyer.
var (
	// ErrUnknownBuyer: the buyer does not exist.
	ErrUnknownBuyer = errors.New("unknown buyer")
	// ErrNotSetUp: the buyer cannot order yet: no grade policy or no
	// warehouse to fulfil its orders from.
	ErrNotSetUp = errors.New("the buyer cannot order yet")
)

// LoadBuyer loads the buyer's terms and fulfilling warehouse.
func LoadBuyer(ctx context.Context, q *dbgen.Queries, kind, code string) (Buyer, error) {
	b := Buyer{Kind: kind, Code: code}
	var whKind string
	var owner *string
	switch kind {
	case "agent":
		a, err := q.GetAgent(ctx, code)
		if err != nil {
			return b, notFound(err, "agent", code)
		}
		b.Agent, b.Region, b.Grade, b.CreditLimit = a.Code, a.Region, a.Grade, a.CreditLimit
		whKind = "central"
	case "store":
		s, err := q.GetStore(ctx, code)
		if err != nil {
			return b, notFound(err, "store", code)
		}
		b.Agent, b.Store, b.Region, b.Grade, b.CreditLimit, b.StoreKind = s.AgentCode, s.Code, s.Region, s.Grade, s.CreditLimit, s.Kind
		whKind, owner = "regional", &s.AgentCode
	default:
		return b, fmt.Errorf("%w: kind %q", ErrUnknownBuyer, kind)
	}
	var err error
	if b.Policy, err = q.GetGradePolicy(ctx, b.Grade); errors.Is(err, pgx.ErrNoRows) {
		return b, fmt.Errorf("%w: grade %s of %s %s has no policy", ErrNotSetUp, b.Grade, kind, code)
	} else if err != nil {
		return b, fmt.Errorf("orders: grade %s of %s %s: %w", b.Grade, kind, code, err)
	}
	w, err := q.FulfilmentWarehouse(ctx, dbgen.FulfilmentWarehouseParams{Kind: whKind, OwnerAgent: owner})
	if errors.Is(err, pgx.ErrNoRows) {
		return b, fmt.Errorf("%w: no active %s warehouse to fulfil %s %s from", ErrNotSetUp, whKind, kind, code)
	} else if err != nil {
		return b, fmt.Errorf("orders: %s warehouse of %s %s: %w", whKind, kind, code, err)
	}
	b.Warehouse = w.Code
	return b, nil
}

func notFound(err error, kind, code string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: %s %s", ErrUnknownBuyer, kind, code)
	}
	return fmt.Errorf("orders: load %s %s: %w", kind, code, err)
}

// Line is a requested line, with its product.
type Line struct {
	Product dbgen.Product
	Qty     int64
}

// AvailableCredit is the buyer's unspent credit-note balance: the sum of the
// remaining balances of the credit notes quarterly rebate settlement posted
// to an agent. Credit notes are the agent's money with HQ, so they offset the
// agent's own orders; a store's orders (bought from its agent) have none.
func AvailableCredit(ctx context.Context, q *dbgen.Queries, b Buyer) (decimal.Decimal, error) {
	if b.Kind != "agent" {
		return decimal.Zero, nil
	}
	bal, err := q.AgentCreditBalance(ctx, b.Agent)
	if err != nil {
		return decimal.Zero, fmt.Errorf("orders: credit balance of agent %s: %w", b.Agent, err)
	}
	return bal, nil
}

// ErrCreditChanged: the buyer's credit-note balance no longer covers the
// offset the order was priced with (another order spent it meanwhile).
var ErrCreditChanged = errors.New("the credit-note balance changed since the order was priced")

// UseCredit records the order's use of amount from the buyer's credit notes,
// oldest first. It must run in the transaction that records the order: it
// locks the buyer's open credit notes, so concurrent orders serialise and a
// balance is never spent twice (the database also refuses any use that would
// drive a note below zero). It returns ErrCreditChanged when the balance no
// longer covers amount.
func UseCredit(ctx context.Context, q *dbgen.Queries, b Buyer, orderID string, amount decimal.Decimal) error {
	if !amount.IsPositive() {
		return nil
	}
	if b.Kind != "agent" {
		return fmt.Errorf("%w: %s %s has no credit notes", ErrCreditChanged, b.Kind, b.Code)
	}
	notes, err := q.LockOpenCreditNotes(ctx, b.Agent)
	if err != nil {
		return fmt.Errorf("orders: lock credit notes of agent %s: %w", b.Agent, err)
	}
	left := amount
	for _, n := range notes {
		if !left.IsPositive() {
			break
		}
		use := decimal.Min(left, n.Remaining)
		if err := q.InsertCreditNoteUse(ctx, dbgen.InsertCreditNoteUseParams{CreditNoteID: n.ID, OrderID: &orderID, Amount: use}); err != nil {
			return fmt.Errorf("orders: order %s uses credit note %s: %w", orderID, n.No, err)
		}
		left = left.Sub(use)
	}
	if left.IsPositive() {
		return fmt.Errorf("%w: agent %s lacks %s of the %s offset", ErrCreditChanged, b.Agent, left.StringFixed(2), amount.StringFixed(2))
	}
	return nil
}

// Channel is the sales channel agents' and stores' purchase orders belong to.
const Channel = "CS"

// RuleID names a campaign's rule in pricing: campaign and rule, so rules of
// different campaigns never collide.
func RuleID(campaign, rule string) string { return campaign + "/" + rule }

// SplitRuleID undoes RuleID; ok is false for a name that is not a campaign
// rule (such as a campaign passed over as a whole).
func SplitRuleID(id string) (campaign, rule string, ok bool) {
	return strings.Cut(id, "/")
}

// Promotions returns the promotion rules that apply to the buyer's orders
// at: the rules of every live campaign targeting the buyer that the buyer
// has acknowledged (强制确认), with their usage so far for the caps. A live
// campaign the buyer has not acknowledged gives normal terms, and a passed-
// over entry says why.
func Promotions(ctx context.Context, q *dbgen.Queries, b Buyer, at time.Time) ([]pricing.Rule, error) {
	live, err := q.BuyerLiveCampaigns(ctx, dbgen.BuyerLiveCampaignsParams{TargetKind: b.Kind, TargetCode: b.Code, At: at})
	if err != nil {
		return nil, fmt.Errorf("orders: live campaigns of %s %s: %w", b.Kind, b.Code, err)
	}
	var rules []promo.Rule
	var out []pricing.Rule
	var ids []string
	for _, c := range live {
		if c.AcknowledgedAt == nil {
			out = append(out, unacknowledged{campaign: c.ID, title: c.Title, buyer: b.Kind + " " + b.Code})
			continue
		}
		var rs []promo.Rule
		if err := json.Unmarshal(c.Rules, &rs); err != nil {
			return nil, fmt.Errorf("orders: rules of campaign %s: %w", c.ID, err)
		}
		for _, r := range rs {
			r.CampaignID, r.ID = c.ID, RuleID(c.ID, r.ID)
			rules = append(rules, r)
		}
		ids = append(ids, c.ID)
	}
	if len(rules) == 0 {
		return out, nil
	}
	usage, err := q.RuleUsage(ctx, dbgen.RuleUsageParams{BuyerKind: b.Kind, BuyerCode: b.Code, CampaignIds: ids})
	if err != nil {
		return nil, fmt.Errorf("orders: promotion usage: %w", err)
	}
	pc := promo.Context{At: at, Buyer: promo.Buyer{Kind: b.Kind, Code: b.Code, Grade: b.Grade, Agent: b.Agent,
		StoreKind: b.StoreKind, Region: b.Region, Channel: Channel}, Usage: map[string]promo.Usage{}}
	for _, u := range usage {
		pc.Usage[RuleID(u.CampaignID, u.RuleID)] = promo.Usage{BuyerUses: int(u.BuyerUses), BudgetSpent: u.Spent}
	}
	return append(promo.PricingRules(pc, rules), out...), nil
}

// ErrPromotionChanged: a capped promotion the order was priced with no
// longer fits its cap (other orders used the budget or the buyer's uses
// meanwhile).
var ErrPromotionChanged = errors.New("a promotion's cap no longer covers the order")

// RuleLockKey is the advisory-lock key that serialises the orders using one
// campaign rule (a 64-bit FNV-1a hash of its name).
func RuleLockKey(campaign, rule string) int64 {
	h := fnv.New64a()
	h.Write([]byte("campaign_rule\x00" + campaign + "\x00" + rule))
	return int64(h.Sum64())
}

// appliedRule is a campaign rule a quote applied.
type appliedRule struct {
	campaign, rule string
	discount       decimal.Decimal
	caps           promo.Caps
}

func (a appliedRule) name() string { return "campaign " + a.campaign + " rule " + a.rule }

// RecordPromotions records what the order's promotions gave: a usage row per
// applied campaign rule (its caps and the campaign's figures read them) and
// the free goods (搭赠) the order earned, which are then reserved, released
// and shipped with its lines. It must run in the transaction that records
// the order.
//
// The quote was priced outside that transaction, so a capped rule — a
// budget or uses per buyer — is checked again here: for each applied rule
// with a cap it takes a transaction-scoped advisory lock (RuleLockKey, in
// ascending key order, so concurrent orders never deadlock), re-reads the
// rule's usage under the locks and returns ErrPromotionChanged, naming the
// rule and why, when this order's use would take the rule past its budget
// or the buyer past its uses. Concurrent orders using one capped rule thus
// serialise on it and can never overspend it together; orders using no
// capped rule take no lock.
func RecordPromotions(ctx context.Context, q *dbgen.Queries, b Buyer, orderID string, quote pricing.Quote) error {
	var applied []appliedRule
	var ids []string
	for _, p := range quote.Promotions {
		campaign, rule, ok := SplitRuleID(p.Rule)
		if !p.Applied || !ok {
			continue
		}
		applied = append(applied, appliedRule{campaign: campaign, rule: rule, discount: p.Discount})
		if !slices.Contains(ids, campaign) {
			ids = append(ids, campaign)
		}
	}
	if len(applied) > 0 {
		if err := checkCaps(ctx, q, b, applied, ids); err != nil {
			return err
		}
	}
	for _, a := range applied {
		if err := q.InsertCampaignUsage(ctx, dbgen.InsertCampaignUsageParams{CampaignID: a.campaign, RuleID: a.rule, OrderID: orderID,
			BuyerKind: b.Kind, BuyerCode: b.Code, Discount: a.discount, OrderNet: quote.NetTotal}); err != nil {
			return fmt.Errorf("orders: order %s: usage of %s: %w", orderID, a.name(), err)
		}
	}
	for i, g := range quote.FreeGoods {
		campaign, rule, ok := SplitRuleID(g.Rule)
		if !ok {
			return fmt.Errorf("orders: order %s: free goods %s from %q, which is not a campaign rule", orderID, g.SKU, g.Rule)
		}
		if err := q.InsertOrderFreeGood(ctx, dbgen.InsertOrderFreeGoodParams{OrderID: orderID, LineNo: int32(i + 1), Sku: g.SKU, Qty: g.Qty,
			CampaignID: campaign, RuleID: rule, Note: g.Note}); err != nil {
			return fmt.Errorf("orders: order %s: free goods %d × %s: %w", orderID, g.Qty, g.SKU, err)
		}
	}
	return nil
}

// checkCaps locks the applied rules that have caps and checks that this
// order's use of each still fits them.
func checkCaps(ctx context.Context, q *dbgen.Queries, b Buyer, applied []appliedRule, ids []string) error {
	rows, err := q.CampaignRules(ctx, ids)
	if err != nil {
		return fmt.Errorf("orders: rules of campaigns %v: %w", ids, err)
	}
	caps := map[string]promo.Caps{}
	for _, c := range rows {
		var rs []promo.Rule
		if err := json.Unmarshal(c.Rules, &rs); err != nil {
			return fmt.Errorf("orders: rules of campaign %s: %w", c.ID, err)
		}
		for _, r := range rs {
			caps[RuleID(c.ID, r.ID)] = r.Caps
		}
	}
	var capped []appliedRule
	for _, a := range applied {
		if c := caps[RuleID(a.campaign, a.rule)]; c.UsesPerBuyer > 0 || c.Budget.IsPositive() {
			a.caps = c
			capped = append(capped, a)
		}
	}
	if len(capped) == 0 {
		return nil
	}
	keys := make([]int64, 0, len(capped))
	var cappedIDs []string
	for _, a := range capped {
		keys = append(keys, RuleLockKey(a.campaign, a.rule))
		if !slices.Contains(cappedIDs, a.campaign) {
			cappedIDs = append(cappedIDs, a.campaign)
		}
	}
	slices.Sort(keys)
	for _, k := range slices.Compact(keys) {
		if err := q.LockCampaignRule(ctx, k); err != nil {
			return fmt.Errorf("orders: lock capped campaign rules: %w", err)
		}
	}
	usage, err := q.RuleUsage(ctx, dbgen.RuleUsageParams{BuyerKind: b.Kind, BuyerCode: b.Code, CampaignIds: cappedIDs})
	if err != nil {
		return fmt.Errorf("orders: promotion usage under lock: %w", err)
	}
	used := map[string]dbgen.RuleUsageRow{}
	for _, u := range usage {
		used[RuleID(u.CampaignID, u.RuleID)] = u
	}
	for _, a := range capped {
		u := used[RuleID(a.campaign, a.rule)]
		if n := int(u.BuyerUses); a.caps.UsesPerBuyer > 0 && n >= a.caps.UsesPerBuyer {
			return fmt.Errorf("%w: %s: uses per buyer exhausted, %s %s has used it %d of %d times",
				ErrPromotionChanged, a.name(), b.Kind, b.Code, n, a.caps.UsesPerBuyer)
		}
		if a.caps.Budget.IsPositive() && u.Spent.Add(a.discount).GreaterThan(a.caps.Budget) {
			left := decimal.Max(a.caps.Budget.Sub(u.Spent), decimal.Zero)
			return fmt.Errorf("%w: %s: budget %s has %s left (%s spent), less than the %s off this order was priced with",
				ErrPromotionChanged, a.name(), a.caps.Budget.StringFixed(2), left.StringFixed(2), u.Spent.StringFixed(2), a.discount.StringFixed(2))
		}
	}
	return nil
}

// unacknowledged stands for a live campaign the buyer has not acknowledged:
// it never applies, and says why.
type unacknowledged struct{ campaign, title, buyer string }

func (u unacknowledged) ID() string { return u.campaign }

func (u unacknowledged) Apply(pricing.Buyer, *pricing.Quote) (decimal.Decimal, string, bool) {
	return decimal.Zero, fmt.Sprintf("campaign %s (%s) is not acknowledged by %s: normal terms apply until it is acknowledged (GET /v1/inbox)", u.campaign, u.title, u.buyer), false
}

// Quote prices lines for the buyer with today's terms.
func Quote(ctx context.Context, q *dbgen.Queries, b Buyer, lines []Line) (pricing.Quote, error) {
	ladder, err := q.GetDiscountLadder(ctx)
	if err != nil {
		return pricing.Quote{}, fmt.Errorf("orders: discount ladder: %w", err)
	}
	credit, err := AvailableCredit(ctx, q, b)
	if err != nil {
		return pricing.Quote{}, err
	}
	promos, err := Promotions(ctx, q, b, time.Now())
	if err != nil {
		return pricing.Quote{}, err
	}
	in := pricing.Input{
		Buyer:            pricing.Buyer{Kind: b.Kind, Code: b.Code, Grade: b.Grade, Region: b.Region, Agent: b.Agent},
		GradeDiscountPct: b.Policy.DiscountPct,
		AvailableCredit:  credit,
		Promotions:       promos,
	}
	for _, t := range ladder {
		in.Ladder = append(in.Ladder, pricing.Tier{Threshold: t.Threshold, DiscountPct: t.DiscountPct})
	}
	for _, l := range lines {
		in.Items = append(in.Items, pricing.Item{SKU: l.Product.Sku, Series: l.Product.Series, Qty: l.Qty, ListPrice: l.Product.ListPrice})
	}
	return pricing.Price(in)
}
