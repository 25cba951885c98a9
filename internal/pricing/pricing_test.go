package pricing

import (
	"errors"
	"testing"

	"github.com/shopspring/decimal"
)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func eq(t *testing.T, what string, got decimal.Decimal, want string) {
	t.Helper()
	if !got.Equal(d(want)) {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

var ladder = []Tier{{Threshold: d("50000"), DiscountPct: d("2")}, {Threshold: d("10000"), DiscountPct: d("1")}}

func TestGradeDiscountRoundsPerLine(t *testing.T) {
	// 3 × 33.33 = 99.99; 35% = 34.9965 → 35.00 (half away from zero).
	// 7 × 12.35 = 86.45; 35% = 30.2575 → 30.26.
	q, err := Price(Input{
		Buyer:            Buyer{Grade: "A"},
		Items:            []Item{{SKU: "X", Qty: 3, ListPrice: d("33.33")}, {SKU: "Y", Qty: 7, ListPrice: d("12.35")}},
		GradeDiscountPct: d("35"),
		Ladder:           ladder,
	})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "line 1 discount", q.Lines[0].GradeDiscount, "35.00")
	eq(t, "line 2 discount", q.Lines[1].GradeDiscount, "30.26")
	eq(t, "line 1 net", q.Lines[0].NetAmount, "64.99")
	eq(t, "list total", q.ListTotal, "186.44")
	eq(t, "grade discount", q.GradeDiscount, "65.26")
	eq(t, "ladder", q.LadderDiscount, "0")
	eq(t, "net", q.NetTotal, "121.18")
	eq(t, "payable", q.Payable, "121.18")
	// Lines add up to the total exactly.
	sum := decimal.Zero
	for _, l := range q.Lines {
		sum = sum.Add(l.NetAmount)
	}
	eq(t, "sum of lines", sum, "121.18")
}

func TestLadderTakesHighestTierReached(t *testing.T) {
	// 400 × 168.00 = 67200.00; grade 30% → 20160.00 off → 47040.00: the
	// 10000 tier (1%): 470.40 → net 46569.60.
	q, err := Price(Input{Buyer: Buyer{Grade: "B"}, Items: []Item{{SKU: "HY", Qty: 400, ListPrice: d("168.00")}}, GradeDiscountPct: d("30"), Ladder: ladder})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "ladder", q.LadderDiscount, "470.40")
	eq(t, "net", q.NetTotal, "46569.60")
	// 500 × 168 = 84000 − 30% = 58800 → 2% tier: 1176.00 → 57624.00.
	q, _ = Price(Input{Buyer: Buyer{Grade: "B"}, Items: []Item{{SKU: "HY", Qty: 500, ListPrice: d("168.00")}}, GradeDiscountPct: d("30"), Ladder: ladder})
	eq(t, "ladder 2", q.LadderDiscount, "1176.00")
	eq(t, "net 2", q.NetTotal, "57624.00")
}

type fixedOff struct{ amount string }

func (f fixedOff) ID() string { return "spend-get-off" }
func (f fixedOff) Apply(_ Buyer, q *Quote) (decimal.Decimal, string, bool) {
	if q.NetTotal.LessThan(d("100")) {
		return decimal.Zero, "order under 100.00", false
	}
	return d(f.amount), "100.00 reached: " + f.amount + " off", true
}

func TestPromotionsAndCreditOffset(t *testing.T) {
	items := []Item{{SKU: "X", Qty: 10, ListPrice: d("20.00")}}
	q, err := Price(Input{Buyer: Buyer{Grade: "S"}, Items: items, GradeDiscountPct: d("10"), Promotions: []Rule{fixedOff{"15.00"}}, AvailableCredit: d("50.00")})
	if err != nil {
		t.Fatal(err)
	}
	// 200.00 − 20.00 grade = 180.00 − 15.00 promotion = 165.00; credit 50.00 → payable 115.00.
	eq(t, "promotion", q.PromotionDiscount, "15.00")
	eq(t, "net", q.NetTotal, "165.00")
	eq(t, "offset", q.CreditOffset, "50.00")
	eq(t, "payable", q.Payable, "115.00")
	if len(q.Promotions) != 1 || !q.Promotions[0].Applied {
		t.Fatalf("promotions %+v", q.Promotions)
	}
	// Credit larger than the order pays it all and no more.
	q, _ = Price(Input{Buyer: Buyer{Grade: "S"}, Items: items, GradeDiscountPct: d("10"), AvailableCredit: d("1000.00")})
	eq(t, "offset capped", q.CreditOffset, "180.00")
	eq(t, "payable zero", q.Payable, "0")
	// A promotion that does not apply says why and changes nothing.
	q, _ = Price(Input{Buyer: Buyer{Grade: "S"}, Items: []Item{{SKU: "X", Qty: 1, ListPrice: d("20.00")}}, GradeDiscountPct: d("10"), Promotions: []Rule{fixedOff{"15.00"}}})
	if q.Promotions[0].Applied || q.Promotions[0].Note == "" {
		t.Fatalf("promotion result %+v", q.Promotions[0])
	}
	eq(t, "net untouched", q.NetTotal, "18.00")
}

func TestInvalidInput(t *testing.T) {
	for _, in := range []Input{
		{},
		{Items: []Item{{SKU: "X", Qty: 0, ListPrice: d("1")}}},
		{Items: []Item{{SKU: "X", Qty: 1, ListPrice: d("1")}}, GradeDiscountPct: d("101")},
		{Items: []Item{{SKU: "X", Qty: 1, ListPrice: d("1")}}, AvailableCredit: d("-1")},
	} {
		if _, err := Price(in); !errors.Is(err, ErrInput) {
			t.Errorf("Price(%+v) err = %v, want ErrInput", in, err)
		}
	}
}

func TestDeterministic(t *testing.T) {
	in := Input{Buyer: Buyer{Grade: "A"}, Items: []Item{{SKU: "A", Qty: 13, ListPrice: d("77.77")}, {SKU: "B", Qty: 2, ListPrice: d("0.01")}}, GradeDiscountPct: d("33.33"), Ladder: ladder}
	a, _ := Price(in)
	for range 20 {
		b, _ := Price(in)
		if !a.NetTotal.Equal(b.NetTotal) || !a.Payable.Equal(b.Payable) || len(a.Steps) != len(b.Steps) {
			t.Fatal("pricing is not deterministic")
		}
	}
}
