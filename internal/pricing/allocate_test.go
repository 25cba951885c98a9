package pricing

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

func allocWeights(ss ...string) []decimal.Decimal {
	out := make([]decimal.Decimal, len(ss))
	for i, s := range ss {
		out[i] = d(s)
	}
	return out
}

func allocShow(ps []decimal.Decimal) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.StringFixed(Scale)
	}
	return strings.Join(s, " ")
}

// Cases computed by hand: each part's exact share, rounded down to the fen;
// the fens left go to the largest remainders, ties to the earlier part.
func TestAllocateByHand(t *testing.T) {
	for _, c := range []struct {
		name    string
		total   string
		weights []string
		want    string
	}{
		// 3.333… each: 3.33 × 3 = 9.99, one fen left; equal remainders: the first part.
		{"equal thirds", "10.00", []string{"1", "1", "1"}, "3.34 3.33 3.33"},
		// 16.666…, 33.333…, 50: 99.99; remainders .0066…, .0033…, 0: the first part.
		{"largest remainder first", "100.00", []string{"1", "2", "3"}, "16.67 33.33 50.00"},
		// 0.333…, 0.666…: 0.99; the second's remainder (.0066…) is the larger.
		{"largest remainder beats earlier", "1.00", []string{"1", "2"}, "0.33 0.67"},
		// 0.05 exact, then 0.0166… three times: 0.08, two fens left; the
		// three equal remainders: the earlier two; the exact part gets none.
		{"ties to the earlier parts", "0.10", []string{"3", "1", "1", "1"}, "0.05 0.02 0.02 0.01"},
		// 7 parts of 0.05: 0.00714… each, all rounded to 0; five fens to the first five.
		{"fens to the first on equal weights", "0.05", []string{"1", "1", "1", "1", "1", "1", "1"}, "0.01 0.01 0.01 0.01 0.01 0.00 0.00"},
		// The order of the returns test: HY-01 10, HY-02 7, RD-02 3 after the
		// grade discount (1209.60, 899.64, 683.91 = 2793.15), 5% ladder off
		// (139.66) = 2653.49: 1149.1189…, 854.6571…, 649.7138… → 1149.11,
		// 854.65, 649.71 = 2653.47; two fens to the remainders .0089…, .0071….
		{"order net values", "2653.49", []string{"1209.60", "899.64", "683.91"}, "1149.12 854.66 649.71"},
		// Exact shares need no fen.
		{"exact shares", "90.00", []string{"2", "1"}, "60.00 30.00"},
		{"single part", "12.34", []string{"7"}, "12.34"},
		{"single part with zero weight", "12.34", []string{"0"}, "12.34"},
		// No positive weight: everything to the first part.
		{"zero weights", "5.00", []string{"0", "0"}, "5.00 0.00"},
		// A zero weight among positive ones gets nothing.
		{"zero weight among others", "1.00", []string{"0", "3", "0", "1"}, "0.00 0.75 0.00 0.25"},
		{"zero total", "0.00", []string{"1", "2"}, "0.00 0.00"},
		{"no parts", "5.00", nil, ""},
	} {
		got := Allocate(d(c.total), allocWeights(c.weights...))
		if len(got) != len(c.weights) || allocShow(got) != c.want {
			t.Errorf("%s: Allocate(%s, %v) = %q, want %q", c.name, c.total, c.weights, allocShow(got), c.want)
		}
	}
}

// For many random totals and weights (fixed seed): the parts add up to the
// total exactly, are whole fens, never negative, each within one fen above
// its exact share rounded down, and at most one fen per part is handed out.
func TestAllocatePartsSumToTotal(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 2026))
	fen := decimal.New(1, -Scale)
	for n := 0; n < 5000; n++ {
		total := decimal.New(r.Int64N(100_000_000), -Scale) // 0 .. 999,999.99
		weights := make([]decimal.Decimal, 1+r.IntN(12))
		for i := range weights {
			switch r.IntN(5) {
			case 0:
				weights[i] = decimal.Zero
			case 1:
				weights[i] = decimal.New(1+r.Int64N(3), 0) // small equal weights: ties
			default:
				weights[i] = decimal.New(r.Int64N(10_000_000), -Scale)
			}
		}
		parts := Allocate(total, weights)
		if len(parts) != len(weights) {
			t.Fatalf("%s over %v: %d parts", total, weights, len(parts))
		}
		sum, wsum := decimal.Zero, decimal.Zero
		for _, w := range weights {
			wsum = wsum.Add(w)
		}
		for i, p := range parts {
			sum = sum.Add(p)
			if p.IsNegative() || !p.Equal(p.Round(Scale)) {
				t.Fatalf("%s over %v: part %d = %s", total, weights, i, p)
			}
			if !wsum.IsPositive() {
				continue
			}
			floor := total.Mul(weights[i]).Div(wsum).RoundFloor(Scale)
			if p.LessThan(floor) || p.GreaterThan(floor.Add(fen)) {
				t.Fatalf("%s over %v: part %d = %s, its exact share rounds down to %s", total, weights, i, p, floor)
			}
		}
		if !sum.Equal(total) {
			t.Fatalf("%s over %v: parts %s add up to %s", total, weights, allocShow(parts), sum)
		}
	}
}
