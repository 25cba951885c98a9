// Package rebate computes an agent's quarterly rebate statement from a
// rebate program and the period's figures (process 5). It is pure and
// deterministic — no I/O, no clock, no map iteration — so the settlement
// workflow, the statement endpoint and the tests all get the same answer, and
// every amount says where it comes from: the volume, the tier and rate, the
// orders counted.
//
// A program has a volume rebate with tiers over the period's net volume
// (delivered orders net of returns) in an explicit mode:
//
//   - retroactive: the highest tier the volume reaches applies to the whole
//     volume;
//   - marginal: each band of the volume earns its own tier's rate.
//
// Bonuses add a rate (percent of the net volume) when earned: new-product
// share, campaign execution, certification coverage of the agent's stores,
// and data contribution (a rate per point of a store metric). A cap limits
// the rebate per agent per period; finance's adjustment lines apply after it.
//
// Rounding: amounts are CNY to the fen (2 decimals), rounded half away from
// zero where they are computed — each marginal band, the retroactive volume
// rebate, each bonus — and totals are sums of rounded amounts, so the lines
// always add up to the total exactly. Percentages (shares, coverage) are
// compared unrounded.
//
// Interim and final: an interim settlement pays what the period has earned
// so far less what was already paid, never less than zero. The final pays the
// period's total less everything already paid (interim credits net of
// debits); when that is negative, nothing is paid and the difference is a
// debit carried forward (the database recovers a debit note from the agent's
// credit notes, see migration 00008). A correction after the final gives only
// the delta, as a credit note when positive and a debit note when negative.
package rebate

import (
	"errors"
	"fmt"
	"slices"

	"github.com/shopspring/decimal"
)

// Scale is the number of decimals amounts are rounded to (the fen).
const Scale = 2

var hundred = decimal.NewFromInt(100)

// Mode is how volume tiers apply.
type Mode string

// Tier modes.
const (
	// Retroactive: the tier reached applies to the whole volume.
	Retroactive Mode = "retroactive"
	// Marginal: each band of volume earns its own tier's rate.
	Marginal Mode = "marginal"
)

// Kind is the kind of settlement a statement belongs to.
type Kind string

// Settlement kinds.
const (
	// Interim: a settlement within the period, paying what was earned so far.
	Interim Kind = "interim"
	// Final: the period's settlement, paying total − already paid.
	Final Kind = "final"
	// Correction: a settlement after the final, giving only the delta.
	Correction Kind = "correction"
)

// Tier is a step of the volume rebate: volume from From (inclusive) earns
// RatePct percent.
type Tier struct {
	From    decimal.Decimal `json:"from"`
	RatePct decimal.Decimal `json:"rate_pct"`
}

// NewProductBonus pays BonusPct of the volume when the share of the volume in
// SKUs launched within WithinMonths months before the period end reaches
// MinSharePct.
type NewProductBonus struct {
	WithinMonths int             `json:"within_months"`
	MinSharePct  decimal.Decimal `json:"min_share_pct"`
	BonusPct     decimal.Decimal `json:"bonus_pct"`
}

// CampaignBonus pays BonusPct of the volume when the agent executed (acknowledged
// and took part in) at least MinExecutedPct of the campaigns targeting it.
type CampaignBonus struct {
	MinExecutedPct decimal.Decimal `json:"min_executed_pct"`
	BonusPct       decimal.Decimal `json:"bonus_pct"`
}

// CertificationBonus pays BonusPct of the volume when at least MinCoveragePct of
// the agent's stores have a BA with a valid certificate.
type CertificationBonus struct {
	MinCoveragePct decimal.Decimal `json:"min_coverage_pct"`
	BonusPct       decimal.Decimal `json:"bonus_pct"`
}

// DataBonus pays RatePctPerPoint percent of the volume per point of the
// agent's data-contribution score (a store metric), counting at most
// MaxPoints points (zero: no limit).
type DataBonus struct {
	RatePctPerPoint decimal.Decimal `json:"rate_pct_per_point"`
	MaxPoints       decimal.Decimal `json:"max_points"`
}

// Program is a rebate program version.
type Program struct {
	Code    string `json:"code"`
	Version int    `json:"version"`
	Mode    Mode   `json:"mode"`
	Tiers   []Tier `json:"tiers"`
	// Bonuses; nil means the program has none of that kind.
	NewProduct    *NewProductBonus    `json:"new_product,omitempty"`
	Campaign      *CampaignBonus      `json:"campaign,omitempty"`
	Certification *CertificationBonus `json:"certification,omitempty"`
	Data          *DataBonus          `json:"data,omitempty"`
	// Cap is the most the program pays an agent per period before
	// adjustments; zero means no cap.
	Cap decimal.Decimal `json:"cap"`
}

// ErrProgram is returned for a program that cannot be computed.
var ErrProgram = errors.New("rebate: invalid program")

// ErrInput is returned for inputs that cannot be computed.
var ErrInput = errors.New("rebate: invalid input")

func pct(d decimal.Decimal) bool { return !d.IsNegative() && d.LessThanOrEqual(hundred) }

// Validate reports the first problem with the program, wrapping ErrProgram.
func (p Program) Validate() error {
	if p.Mode != Retroactive && p.Mode != Marginal {
		return fmt.Errorf("%w: mode %q is neither retroactive nor marginal", ErrProgram, p.Mode)
	}
	if len(p.Tiers) == 0 {
		return fmt.Errorf("%w: no tiers", ErrProgram)
	}
	seen := map[string]bool{}
	for i, t := range p.Tiers {
		if t.From.IsNegative() {
			return fmt.Errorf("%w: tiers[%d]: negative threshold", ErrProgram, i)
		}
		if !pct(t.RatePct) {
			return fmt.Errorf("%w: tiers[%d]: rate %s%% out of 0..100", ErrProgram, i, t.RatePct)
		}
		k := t.From.String()
		if seen[k] {
			return fmt.Errorf("%w: tiers[%d]: threshold %s appears twice", ErrProgram, i, k)
		}
		seen[k] = true
	}
	if b := p.NewProduct; b != nil && (b.WithinMonths <= 0 || !pct(b.MinSharePct) || !pct(b.BonusPct)) {
		return fmt.Errorf("%w: new_product: months must be positive, share and bonus in 0..100", ErrProgram)
	}
	if b := p.Campaign; b != nil && (!pct(b.MinExecutedPct) || !pct(b.BonusPct)) {
		return fmt.Errorf("%w: campaign: percentages must be in 0..100", ErrProgram)
	}
	if b := p.Certification; b != nil && (!pct(b.MinCoveragePct) || !pct(b.BonusPct)) {
		return fmt.Errorf("%w: certification: percentages must be in 0..100", ErrProgram)
	}
	if b := p.Data; b != nil && (!pct(b.RatePctPerPoint) || b.MaxPoints.IsNegative()) {
		return fmt.Errorf("%w: data: rate per point in 0..100, max points not negative", ErrProgram)
	}
	if p.Cap.IsNegative() {
		return fmt.Errorf("%w: negative cap", ErrProgram)
	}
	return nil
}

// Adjustment is a line finance adds in review.
type Adjustment struct {
	Amount decimal.Decimal `json:"amount"`
	Reason string          `json:"reason"`
	By     string          `json:"by"`
}

// Inputs are an agent's figures for the period, as the settlement froze them.
type Inputs struct {
	Agent  string `json:"agent"`
	Period string `json:"period"`
	Kind   Kind   `json:"kind"`
	// Delivered is the net amount of the orders delivered in the period by
	// its end; Orders how many.
	Delivered decimal.Decimal `json:"delivered"`
	Orders    int64           `json:"orders"`
	// Returned is the amount of returns on those orders recorded by the end
	// of the grace days; Returns how many.
	Returned decimal.Decimal `json:"returned"`
	Returns  int64           `json:"returns"`
	// NewProduct is the net volume in new SKUs: the delivered lines' net
	// value (their share of the orders' net totals) less returned lines.
	NewProduct decimal.Decimal `json:"new_product"`
	// CampaignsTargeted and CampaignsExecuted count the campaigns targeting
	// the agent in the period, and those it acknowledged and took part in.
	CampaignsTargeted int64 `json:"campaigns_targeted"`
	CampaignsExecuted int64 `json:"campaigns_executed"`
	// Stores and CertifiedStores count the agent's stores, and those with a
	// BA holding a valid certificate at period end.
	Stores          int64 `json:"stores"`
	CertifiedStores int64 `json:"certified_stores"`
	// DataPoints is the agent's data-contribution score: the points its
	// stores earned in the period; DataStores how many stores earned them.
	DataPoints decimal.Decimal `json:"data_points"`
	DataStores int64           `json:"data_stores"`
	// PaidBefore is what earlier settlements of the period and program
	// already paid the agent: credit notes less debit notes.
	PaidBefore  decimal.Decimal `json:"paid_before"`
	Adjustments []Adjustment    `json:"adjustments,omitempty"`
}

// Line is one explained amount of a statement.
type Line struct {
	// Rule: volume_tier, new_product, campaign, certification, data, cap,
	// adjustment.
	Rule string `json:"rule"`
	// Basis is the amount the rate applies to; RatePct the rate.
	Basis   decimal.Decimal `json:"basis"`
	RatePct decimal.Decimal `json:"rate_pct"`
	Amount  decimal.Decimal `json:"amount"`
	Note    string          `json:"note"`
}

// Statement is an agent's explained rebate for the period.
type Statement struct {
	Program string `json:"program"`
	Version int    `json:"version"`
	Agent   string `json:"agent"`
	Period  string `json:"period"`
	Kind    Kind   `json:"kind"`
	Mode    Mode   `json:"mode"`
	// The volume basis.
	Delivered decimal.Decimal `json:"delivered"`
	Orders    int64           `json:"orders"`
	Returned  decimal.Decimal `json:"returned"`
	Returns   int64           `json:"returns"`
	Volume    decimal.Decimal `json:"volume"`
	// Tier is the index (from 1, in ascending order of threshold) of the
	// highest tier reached, 0 for none; TierRatePct its rate.
	Tier        int             `json:"tier"`
	TierRatePct decimal.Decimal `json:"tier_rate_pct"`
	Lines       []Line          `json:"lines"`
	// Earned is the sum of the volume and bonus lines; Capped what the cap
	// took off (zero or positive); Adjusted the sum of adjustment lines.
	Earned   decimal.Decimal `json:"earned"`
	Capped   decimal.Decimal `json:"capped"`
	Adjusted decimal.Decimal `json:"adjusted"`
	// Total = Earned − Capped + Adjusted: the period's rebate so far.
	Total decimal.Decimal `json:"total"`
	// PaidBefore is what earlier settlements paid; Due = Total − PaidBefore.
	PaidBefore decimal.Decimal `json:"paid_before"`
	Due        decimal.Decimal `json:"due"`
	// Credit is the credit note this settlement issues; Debit the debit
	// recorded (carried forward). At most one of them is non-zero.
	Credit decimal.Decimal `json:"credit"`
	Debit  decimal.Decimal `json:"debit"`
	Note   string          `json:"note"`
}

func fen(d decimal.Decimal) string { return d.StringFixed(Scale) }

func ofVolume(volume, ratePct decimal.Decimal) decimal.Decimal {
	return volume.Mul(ratePct).Div(hundred).Round(Scale)
}

// sharePct is part/whole in percent, unrounded; zero for an empty whole.
func sharePct(part, whole decimal.Decimal) decimal.Decimal {
	if !whole.IsPositive() {
		return decimal.Zero
	}
	return part.Mul(hundred).DivRound(whole, 8)
}

func fenExact(d decimal.Decimal) bool { return d.Equal(d.Round(Scale)) }

// Compute computes the agent's statement under the program.
func Compute(p Program, in Inputs) (Statement, error) {
	if err := p.Validate(); err != nil {
		return Statement{}, err
	}
	switch in.Kind {
	case Interim, Final, Correction:
	default:
		return Statement{}, fmt.Errorf("%w: kind %q", ErrInput, in.Kind)
	}
	for _, f := range []struct {
		name string
		v    decimal.Decimal
	}{{"delivered", in.Delivered}, {"returned", in.Returned}, {"new_product", in.NewProduct}, {"paid_before", in.PaidBefore}} {
		if !fenExact(f.v) {
			return Statement{}, fmt.Errorf("%w: %s %s has more than 2 decimals", ErrInput, f.name, f.v)
		}
	}
	if in.Delivered.IsNegative() || in.Returned.IsNegative() || in.NewProduct.IsNegative() || in.DataPoints.IsNegative() ||
		in.Orders < 0 || in.Returns < 0 || in.CampaignsExecuted < 0 || in.CampaignsExecuted > in.CampaignsTargeted ||
		in.CertifiedStores < 0 || in.CertifiedStores > in.Stores {
		return Statement{}, fmt.Errorf("%w: negative or inconsistent figures", ErrInput)
	}
	for i, a := range in.Adjustments {
		if !fenExact(a.Amount) || a.Amount.IsZero() || a.Reason == "" {
			return Statement{}, fmt.Errorf("%w: adjustments[%d]: a non-zero amount to the fen and a reason are required", ErrInput, i)
		}
	}

	s := Statement{
		Program: p.Code, Version: p.Version, Agent: in.Agent, Period: in.Period, Kind: in.Kind, Mode: p.Mode,
		Delivered: in.Delivered, Orders: in.Orders, Returned: in.Returned, Returns: in.Returns,
		Lines: []Line{}, PaidBefore: in.PaidBefore,
	}
	s.Volume = in.Delivered.Sub(in.Returned)
	if s.Volume.IsNegative() {
		s.Volume = decimal.Zero
	}
	basis := fmt.Sprintf("net volume %s = delivered %s (%d orders) − returns %s (%d)",
		fen(s.Volume), fen(in.Delivered), in.Orders, fen(in.Returned), in.Returns)

	tiers := slices.Clone(p.Tiers)
	slices.SortFunc(tiers, func(a, b Tier) int { return a.From.Cmp(b.From) })
	for i, t := range tiers {
		if s.Volume.GreaterThanOrEqual(t.From) && s.Volume.IsPositive() {
			s.Tier, s.TierRatePct = i+1, t.RatePct
		}
	}
	switch p.Mode {
	case Retroactive:
		if s.Tier > 0 {
			amt := ofVolume(s.Volume, s.TierRatePct)
			s.Lines = append(s.Lines, Line{Rule: "volume_tier", Basis: s.Volume, RatePct: s.TierRatePct, Amount: amt,
				Note: fmt.Sprintf("%s; tier %d (from %s) reached: %s%% on the whole volume (retroactive), rounded to the fen",
					basis, s.Tier, fen(tiers[s.Tier-1].From), s.TierRatePct)})
		} else {
			s.Lines = append(s.Lines, Line{Rule: "volume_tier", Basis: s.Volume, RatePct: decimal.Zero, Amount: decimal.Zero,
				Note: fmt.Sprintf("%s; below the first tier (from %s)", basis, fen(tiers[0].From))})
		}
	case Marginal:
		for i := 0; i < s.Tier; i++ {
			lo := tiers[i].From
			hi := s.Volume
			upper := "up"
			if i+1 < len(tiers) && tiers[i+1].From.LessThan(hi) {
				hi = tiers[i+1].From
				upper = "to " + fen(hi)
			}
			band := hi.Sub(lo)
			amt := ofVolume(band, tiers[i].RatePct)
			s.Lines = append(s.Lines, Line{Rule: "volume_tier", Basis: band, RatePct: tiers[i].RatePct, Amount: amt,
				Note: fmt.Sprintf("%s; band %d (from %s %s): %s%% of %s (marginal), rounded to the fen",
					basis, i+1, fen(lo), upper, tiers[i].RatePct, fen(band))})
		}
		if s.Tier == 0 {
			s.Lines = append(s.Lines, Line{Rule: "volume_tier", Basis: s.Volume, RatePct: decimal.Zero, Amount: decimal.Zero,
				Note: fmt.Sprintf("%s; below the first tier (from %s)", basis, fen(tiers[0].From))})
		}
	}

	bonus := func(rule string, earned bool, rate decimal.Decimal, why string) {
		if !earned {
			s.Lines = append(s.Lines, Line{Rule: rule, Basis: s.Volume, RatePct: decimal.Zero, Amount: decimal.Zero, Note: why + ": not earned"})
			return
		}
		s.Lines = append(s.Lines, Line{Rule: rule, Basis: s.Volume, RatePct: rate, Amount: ofVolume(s.Volume, rate),
			Note: fmt.Sprintf("%s: +%s%% of net volume %s, rounded to the fen", why, rate, fen(s.Volume))})
	}
	if b := p.NewProduct; b != nil {
		share := sharePct(in.NewProduct, s.Volume)
		bonus("new_product", s.Volume.IsPositive() && share.GreaterThanOrEqual(b.MinSharePct), b.BonusPct,
			fmt.Sprintf("new products (launched within %d months) %s of %s = %s%% vs %s%% required",
				b.WithinMonths, fen(in.NewProduct), fen(s.Volume), share.Round(2), b.MinSharePct))
	}
	if b := p.Campaign; b != nil {
		share := sharePct(decimal.NewFromInt(in.CampaignsExecuted), decimal.NewFromInt(in.CampaignsTargeted))
		bonus("campaign", in.CampaignsTargeted > 0 && share.GreaterThanOrEqual(b.MinExecutedPct), b.BonusPct,
			fmt.Sprintf("campaigns executed %d of %d = %s%% vs %s%% required",
				in.CampaignsExecuted, in.CampaignsTargeted, share.Round(2), b.MinExecutedPct))
	}
	if b := p.Certification; b != nil {
		share := sharePct(decimal.NewFromInt(in.CertifiedStores), decimal.NewFromInt(in.Stores))
		bonus("certification", in.Stores > 0 && share.GreaterThanOrEqual(b.MinCoveragePct), b.BonusPct,
			fmt.Sprintf("stores with a certified BA %d of %d = %s%% vs %s%% required",
				in.CertifiedStores, in.Stores, share.Round(2), b.MinCoveragePct))
	}
	if b := p.Data; b != nil {
		points := in.DataPoints
		limit := ""
		if b.MaxPoints.IsPositive() && points.GreaterThan(b.MaxPoints) {
			points, limit = b.MaxPoints, fmt.Sprintf(" (limited to %s)", b.MaxPoints)
		}
		rate := points.Mul(b.RatePctPerPoint)
		bonus("data", rate.IsPositive(), rate,
			fmt.Sprintf("data contribution %s points from %d stores%s × %s%% per point", in.DataPoints, in.DataStores, limit, b.RatePctPerPoint))
	}
	for _, l := range s.Lines {
		s.Earned = s.Earned.Add(l.Amount)
	}
	if p.Cap.IsPositive() && s.Earned.GreaterThan(p.Cap) {
		s.Capped = s.Earned.Sub(p.Cap)
		s.Lines = append(s.Lines, Line{Rule: "cap", Basis: s.Earned, Amount: s.Capped.Neg(),
			Note: fmt.Sprintf("earned %s is over the cap of %s per agent per period", fen(s.Earned), fen(p.Cap))})
	}
	for _, a := range in.Adjustments {
		s.Adjusted = s.Adjusted.Add(a.Amount)
		s.Lines = append(s.Lines, Line{Rule: "adjustment", Amount: a.Amount, Note: fmt.Sprintf("adjustment by %s: %s", a.By, a.Reason)})
	}
	s.Total = s.Earned.Sub(s.Capped).Add(s.Adjusted)
	s.Due = s.Total.Sub(s.PaidBefore)
	switch {
	case s.Due.IsPositive():
		s.Credit = s.Due
		s.Note = fmt.Sprintf("%s: total %s − already paid %s = credit note %s", in.Kind, fen(s.Total), fen(s.PaidBefore), fen(s.Credit))
	case s.Due.IsZero():
		s.Note = fmt.Sprintf("%s: total %s equals what was already paid; nothing to issue", in.Kind, fen(s.Total))
	case in.Kind == Interim:
		s.Note = fmt.Sprintf("interim: total so far %s is below what was already paid %s; nothing paid, the final reconciles", fen(s.Total), fen(s.PaidBefore))
	case in.Kind == Final:
		s.Debit = s.Due.Neg()
		s.Note = fmt.Sprintf("final: total %s − already paid %s is negative: nothing paid, a debit of %s carried forward", fen(s.Total), fen(s.PaidBefore), fen(s.Debit))
	default:
		s.Debit = s.Due.Neg()
		s.Note = fmt.Sprintf("correction: total %s − already settled %s = debit note %s", fen(s.Total), fen(s.PaidBefore), fen(s.Debit))
	}
	return s, nil
}
