package rebate

import (
	"errors"
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

// tiers: 1% from 0, 2% from 100,000, 3% from 300,000.
var tiers = []Tier{{From: d("300000"), RatePct: d("3")}, {From: d("0"), RatePct: d("1")}, {From: d("100000"), RatePct: d("2")}}

func program(mode Mode) Program {
	return Program{Code: "VOL", Version: 1, Mode: mode, Tiers: tiers}
}

func compute(t *testing.T, p Program, in Inputs) Statement {
	t.Helper()
	if in.Kind == "" {
		in.Kind = Final
	}
	s, err := Compute(p, in)
	if err != nil {
		t.Fatal(err)
	}
	// The lines always add up to the total.
	sum := decimal.Zero
	for _, l := range s.Lines {
		sum = sum.Add(l.Amount)
	}
	if !sum.Equal(s.Total) {
		t.Errorf("lines add up to %s, total %s", sum, s.Total)
	}
	return s
}

func TestRetroactiveVsMarginalAtTierBoundaries(t *testing.T) {
	for _, c := range []struct {
		delivered, returned string
		mode                Mode
		tier                int
		total               string
		lines               int
	}{
		// Exactly on the 100,000 boundary: retroactive 2% of all = 2000.00;
		// marginal 1% of 100,000 = 1000.00 plus 2% of a zero band.
		{"100000.00", "0", Retroactive, 2, "2000.00", 1},
		{"100000.00", "0", Marginal, 2, "1000.00", 2},
		// One fen below: 1% of 99,999.99 = 999.9999 → 1000.00 both ways.
		{"99999.99", "0", Retroactive, 1, "1000.00", 1},
		{"99999.99", "0", Marginal, 1, "1000.00", 1},
		// 360,000 delivered − 10,000 returned = 350,000: retroactive 3% =
		// 10,500.00; marginal 1% × 100,000 + 2% × 200,000 + 3% × 50,000 =
		// 1,000 + 4,000 + 1,500 = 6,500.00.
		{"360000.00", "10000.00", Retroactive, 3, "10500.00", 1},
		{"360000.00", "10000.00", Marginal, 3, "6500.00", 3},
		// Returns over deliveries: no volume, nothing earned.
		{"100.00", "300.00", Retroactive, 0, "0", 1},
		{"100.00", "300.00", Marginal, 0, "0", 1},
	} {
		s := compute(t, program(c.mode), Inputs{Agent: "AG", Delivered: d(c.delivered), Returned: d(c.returned), Orders: 7})
		if s.Tier != c.tier || len(s.Lines) != c.lines {
			t.Errorf("%s %s: tier %d lines %d, want %d %d: %+v", c.mode, c.delivered, s.Tier, len(s.Lines), c.tier, c.lines, s.Lines)
		}
		eq(t, string(c.mode)+" "+c.delivered, s.Total, c.total)
		eq(t, "credit", s.Credit, c.total)
	}
	// The marginal bands say what they cover.
	s := compute(t, program(Marginal), Inputs{Delivered: d("350000.00"), Orders: 3})
	eq(t, "band 2 basis", s.Lines[1].Basis, "200000")
	eq(t, "band 3 basis", s.Lines[2].Basis, "50000")
	eq(t, "band 3 amount", s.Lines[2].Amount, "1500.00")
	if want := "net volume 350000.00 = delivered 350000.00 (3 orders) − returns 0.00 (0); band 3 (from 300000.00 up): 3% of 50000.00 (marginal), rounded to the fen"; s.Lines[2].Note != want {
		t.Errorf("note %q, want %q", s.Lines[2].Note, want)
	}
	// Below a first tier that starts above zero.
	p := Program{Code: "X", Mode: Marginal, Tiers: []Tier{{From: d("50000"), RatePct: d("1")}}}
	s = compute(t, p, Inputs{Delivered: d("40000")})
	eq(t, "below first tier", s.Total, "0")
	s = compute(t, p, Inputs{Delivered: d("60000")})
	eq(t, "marginal above a non-zero first tier", s.Total, "100.00") // 1% of 10,000
}

func TestBonuses(t *testing.T) {
	p := program(Retroactive)
	p.NewProduct = &NewProductBonus{WithinMonths: 6, MinSharePct: d("20"), BonusPct: d("0.5")}
	p.Campaign = &CampaignBonus{MinExecutedPct: d("80"), BonusPct: d("0.3")}
	p.Certification = &CertificationBonus{MinCoveragePct: d("50"), BonusPct: d("0.2")}
	p.Data = &DataBonus{RatePctPerPoint: d("0.01"), MaxPoints: d("50")}
	// Volume 200,000: 2% = 4,000.00. New products 40,000 = 20% → +0.5% =
	// 1,000.00. Campaigns 4 of 5 = 80% → +0.3% = 600.00. Stores 6 of 12 =
	// 50% → +0.2% = 400.00. Data 37.5 points × 0.01% = 0.375% = 750.00.
	s := compute(t, p, Inputs{Delivered: d("200000.00"), NewProduct: d("40000.00"), CampaignsTargeted: 5, CampaignsExecuted: 4,
		Stores: 12, CertifiedStores: 6, DataPoints: d("37.5")})
	want := map[string]string{"volume_tier": "4000.00", "new_product": "1000.00", "campaign": "600.00", "certification": "400.00", "data": "750.00"}
	for _, l := range s.Lines {
		eq(t, l.Rule, l.Amount, want[l.Rule])
	}
	eq(t, "earned", s.Earned, "6750.00")
	eq(t, "total", s.Total, "6750.00")
	// Each just short: 39,999.99 new; 3 of 5; 5 of 12; data over the limit
	// (80 points count as 50 = 0.5% = 1,000.00).
	s = compute(t, p, Inputs{Delivered: d("200000.00"), NewProduct: d("39999.99"), CampaignsTargeted: 5, CampaignsExecuted: 3,
		Stores: 12, CertifiedStores: 5, DataPoints: d("80")})
	want = map[string]string{"volume_tier": "4000.00", "new_product": "0", "campaign": "0", "certification": "0", "data": "1000.00"}
	for _, l := range s.Lines {
		eq(t, l.Rule, l.Amount, want[l.Rule])
	}
	eq(t, "total short", s.Total, "5000.00")
	// No campaigns, no stores: those bonuses are not earned (not a division by zero).
	s = compute(t, p, Inputs{Delivered: d("200000.00")})
	eq(t, "total none", s.Total, "4000.00")
}

func TestRoundingHalfAwayFromZeroPerLine(t *testing.T) {
	p := Program{Code: "R", Mode: Retroactive, Tiers: []Tier{{From: d("0"), RatePct: d("1")}},
		NewProduct: &NewProductBonus{WithinMonths: 3, MinSharePct: d("0"), BonusPct: d("0.5")}}
	// 1% of 12,345.50 = 123.455 → 123.46 (half away from zero);
	// 0.5% = 61.7275 → 61.73; total 185.19 — the sum of the rounded lines.
	s := compute(t, p, Inputs{Delivered: d("12345.50"), NewProduct: d("1.00")})
	eq(t, "volume", s.Lines[0].Amount, "123.46")
	eq(t, "bonus", s.Lines[1].Amount, "61.73")
	eq(t, "total", s.Total, "185.19")
}

func TestCapThenAdjustments(t *testing.T) {
	p := program(Retroactive)
	p.Cap = d("8000")
	// 350,000 at 3% = 10,500.00, capped at 8,000.00 (−2,500.00); finance's
	// adjustment +150.00 applies after the cap: 8,150.00.
	s := compute(t, p, Inputs{Delivered: d("350000.00"),
		Adjustments: []Adjustment{{Amount: d("150.00"), Reason: "display fixtures", By: "fin-1"}}})
	eq(t, "earned", s.Earned, "10500.00")
	eq(t, "capped", s.Capped, "2500.00")
	eq(t, "adjusted", s.Adjusted, "150.00")
	eq(t, "total", s.Total, "8150.00")
	if l := s.Lines[1]; l.Rule != "cap" || !l.Amount.Equal(d("-2500")) {
		t.Errorf("cap line %+v", l)
	}
	// Under the cap nothing is taken.
	s = compute(t, p, Inputs{Delivered: d("200000.00")})
	eq(t, "under cap", s.Total, "4000.00")
	eq(t, "capped none", s.Capped, "0")
}

func TestInterimFinalCorrection(t *testing.T) {
	p := program(Retroactive)
	// Interim: 150,000 at 2% = 3,000.00, nothing paid yet.
	s := compute(t, p, Inputs{Kind: Interim, Delivered: d("150000.00")})
	eq(t, "interim credit", s.Credit, "3000.00")
	// Final: 250,000 at 2% = 5,000.00 − 3,000.00 paid = 2,000.00.
	s = compute(t, p, Inputs{Kind: Final, Delivered: d("250000.00"), PaidBefore: d("3000.00")})
	eq(t, "final credit", s.Credit, "2000.00")
	eq(t, "final debit", s.Debit, "0")
	// Final after heavy returns: 100,000 − 10,000 = 90,000 at 1% = 900.00
	// − 3,000.00 paid: nothing paid, a debit of 2,100.00 carried forward.
	s = compute(t, p, Inputs{Kind: Final, Delivered: d("100000.00"), Returned: d("10000.00"), PaidBefore: d("3000.00")})
	eq(t, "final negative credit", s.Credit, "0")
	eq(t, "final negative debit", s.Debit, "2100.00")
	eq(t, "due", s.Due, "-2100.00")
	// The same situation in an interim: nothing paid, nothing recorded.
	s = compute(t, p, Inputs{Kind: Interim, Delivered: d("90000.00"), PaidBefore: d("3000.00")})
	eq(t, "interim negative credit", s.Credit, "0")
	eq(t, "interim negative debit", s.Debit, "0")
	// Correction after a final that paid 3,000 + 2,000: 260,000 → 5,200.00:
	// only the delta 200.00; 240,000 → 4,800.00: a debit note of 200.00.
	s = compute(t, p, Inputs{Kind: Correction, Delivered: d("260000.00"), PaidBefore: d("5000.00")})
	eq(t, "correction credit", s.Credit, "200.00")
	s = compute(t, p, Inputs{Kind: Correction, Delivered: d("240000.00"), PaidBefore: d("5000.00")})
	eq(t, "correction debit", s.Debit, "200.00")
	eq(t, "correction debit credit", s.Credit, "0")
	// Correction after a final that carried a debit: paid 3,000 − 2,100 =
	// 900 net; 95,000 at 1% = 950.00 → a credit note of 50.00.
	s = compute(t, p, Inputs{Kind: Correction, Delivered: d("95000.00"), PaidBefore: d("900.00")})
	eq(t, "correction after debit", s.Credit, "50.00")
	// Nothing changed: nothing issued.
	s = compute(t, p, Inputs{Kind: Correction, Delivered: d("45000.00"), PaidBefore: d("450.00")})
	eq(t, "no change credit", s.Credit, "0")
	eq(t, "no change debit", s.Debit, "0")
}

func TestRefusals(t *testing.T) {
	ok := program(Marginal)
	for name, p := range map[string]Program{
		"mode":      {Mode: "tiered", Tiers: tiers},
		"no tiers":  {Mode: Retroactive},
		"duplicate": {Mode: Retroactive, Tiers: []Tier{{From: d("0"), RatePct: d("1")}, {From: d("0.00"), RatePct: d("2")}}},
		"rate":      {Mode: Retroactive, Tiers: []Tier{{From: d("0"), RatePct: d("101")}}},
		"cap":       {Mode: Retroactive, Tiers: tiers, Cap: d("-1")},
		"bonus":     {Mode: Retroactive, Tiers: tiers, NewProduct: &NewProductBonus{MinSharePct: d("10"), BonusPct: d("1")}},
	} {
		if _, err := Compute(p, Inputs{Kind: Final}); !errors.Is(err, ErrProgram) {
			t.Errorf("%s: err %v, want ErrProgram", name, err)
		}
	}
	for name, in := range map[string]Inputs{
		"kind":       {Kind: "monthly"},
		"3 decimals": {Kind: Final, Delivered: d("10.005")},
		"negative":   {Kind: Final, Delivered: d("-1")},
		"executed":   {Kind: Final, CampaignsTargeted: 1, CampaignsExecuted: 2},
		"adjustment": {Kind: Final, Adjustments: []Adjustment{{Amount: d("1.001"), Reason: "x"}}},
		"no reason":  {Kind: Final, Adjustments: []Adjustment{{Amount: d("1.00")}}},
	} {
		if _, err := Compute(ok, in); !errors.Is(err, ErrInput) {
			t.Errorf("%s: err %v, want ErrInput", name, err)
		}
	}
}

func TestPeriodCutOffAndGraceDays(t *testing.T) {
	p, err := ParsePeriod("2026-Q3")
	if err != nil {
		t.Fatal(err)
	}
	utc := time.UTC
	at := func(s string) time.Time { t, _ := time.Parse(time.DateTime, s); return t }
	if !p.Start(utc).Equal(at("2026-07-01 00:00:00")) || !p.End(utc).Equal(at("2026-10-01 00:00:00")) ||
		!p.ReturnsCutoff(utc, DefaultGraceDays).Equal(at("2026-10-06 00:00:00")) {
		t.Errorf("bounds %s %s %s", p.Start(utc), p.End(utc), p.ReturnsCutoff(utc, 5))
	}
	if !p.CountsDelivery(at("2026-09-30 23:59:59")) || p.CountsDelivery(at("2026-10-01 00:00:00")) || p.CountsDelivery(at("2026-06-30 23:59:59")) {
		t.Error("delivery cut-off at period end")
	}
	delivered := at("2026-09-15 10:00:00")
	if !p.CountsReturn(delivered, at("2026-10-05 23:59:59"), 5) || p.CountsReturn(delivered, at("2026-10-06 00:00:00"), 5) {
		t.Error("returns count until the end of the 5th grace day")
	}
	if p.CountsReturn(at("2026-10-02 00:00:00"), at("2026-10-03 00:00:00"), 5) {
		t.Error("a return of an order delivered after the period does not count")
	}
	if PeriodOf(at("2026-01-06 00:00:00")).Prev().Key() != "2025-Q4" || p.Prev().Key() != "2026-Q2" {
		t.Error("Prev")
	}
	if PeriodOf(at("2026-12-31 12:00:00")).Key() != "2026-Q4" {
		t.Error("PeriodOf")
	}
	for _, bad := range []string{"2026-Q5", "2026-Q3x", "26-Q1", "2026-Q0", ""} {
		if _, err := ParsePeriod(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
