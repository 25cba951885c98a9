package api_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/alliance/backoffice/api"
)

// liveCampaignFor records a campaign live now, with the given rules (JSON),
// targeting store ST-EAST-01, which has acknowledged it.
func (h *harness) liveCampaignFor(t *testing.T, id, rules string) {
	t.Helper()
	ctx := context.Background()
	if _, err := h.pool.Exec(ctx, `
		INSERT INTO campaigns (id, title, status, rules, target, ack_deadline, starts_at, ends_at, reminder_every_s, created_by, published_at)
		VALUES ($1, 'Caps ' || $1, 'live', $2, '{"buyer_kinds":["store"],"regions":["EAST"]}',
		        now() - interval '2 days', now() - interval '1 day', now() + interval '30 days', 86400,
		        (SELECT id FROM users WHERE name = 'demo-hq-admin'), now() - interval '3 days')`, id, rules); err != nil {
		t.Fatal(err)
	}
	if _, err := h.pool.Exec(ctx, `
		INSERT INTO campaign_targets (campaign_id, target_kind, target_code, agent_code, region, notified_at, acknowledged_at)
		VALUES ($1, 'store', 'ST-EAST-01', 'AG-EAST', 'EAST', now() - interval '3 days', now() - interval '2 days')`, id); err != nil {
		t.Fatal(err)
	}
}

// raceOrders submits n orders of the same lines as the store at the same
// moment, each under its own Idempotency-Key, and returns the answers.
func (h *harness) raceOrders(t *testing.T, prefix string, n int, ls []line) []response {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	out := make([]response, n)
	for i := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = h.do("POST", "/v1/orders", storeUser, map[string]any{"lines": ls}, "Idempotency-Key", fmt.Sprintf("%s-%d", prefix, i))
		}()
	}
	close(start)
	wg.Wait()
	return out
}

// capOutcome sorts raced answers: the accepted orders and the discount each
// got from rule, and the refusals (409 naming the rule).
type capOutcome struct {
	accepted   []api.Order
	discounted int
	discount   decimal.Decimal
	sales      decimal.Decimal
	refused    int
}

func capOutcomes(t *testing.T, rs []response, rule string) capOutcome {
	t.Helper()
	out := capOutcome{discount: decimal.Zero, sales: decimal.Zero}
	for _, r := range rs {
		switch r.status {
		case 202:
			var o api.Order
			r.json(t, &o)
			out.accepted = append(out.accepted, o)
			for _, p := range o.Pricing.Promotions {
				if p.Rule == rule && p.Applied {
					out.discounted++
					out.discount = out.discount.Add(p.Discount.Decimal)
					out.sales = out.sales.Add(o.NetTotal.Decimal)
				}
			}
		case 409:
			p := r.problem(t)
			if !strings.Contains(p.Detail, "campaign "+strings.Replace(rule, "/", " rule ", 1)) || !strings.Contains(p.Detail, "submit again") {
				t.Errorf("409 does not name the rule and what to do: %q", p.Detail)
			}
			out.refused++
		default:
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	}
	return out
}

// campaignUsage is what campaign_usage holds for one rule: rows, total
// discount, and the distinct orders.
func (h *harness) campaignUsage(t *testing.T, campaign, rule string) (int, decimal.Decimal) {
	t.Helper()
	var n int
	var sum decimal.Decimal
	if err := h.pool.QueryRow(context.Background(), `SELECT count(*), coalesce(sum(discount), 0) FROM campaign_usage WHERE campaign_id = $1 AND rule_id = $2`,
		campaign, rule).Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	return n, sum
}

// TestCampaignBudgetHoldsUnderConcurrentOrders: a rule's budget covers
// exactly three orders' discounts; ten orders priced at the same moment all
// see the whole budget, but the submission re-checks it under the rule's
// lock, so exactly three get the discount, the rest are refused with a 409
// naming the rule (writing nothing) or priced without it, and the
// campaign's figures are the sum of the accepted orders.
func TestCampaignBudgetHoldsUnderConcurrentOrders(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// spend 1000.00 → 80.00 off, budget 240.00 = three orders.
	h.liveCampaignFor(t, "CAP-BUDGET", `[{"id":"R1","kind":"spend_off","priority":1,
		"tiers":[{"threshold":"1000.00","off":"80.00"}],"caps":{"budget":"240.00"}}]`)
	orders0, audit0 := h.count("orders"), h.count("audit_events WHERE entity = 'order'")

	// 10 × 134.40 − 10% = 1209.60 each: under the store's auto-approval limit.
	res := capOutcomes(t, h.raceOrders(t, "cap-budget", 10, lines("HY-01", 10)), "CAP-BUDGET/R1")
	t.Logf("%d accepted (%d with the discount), %d refused", len(res.accepted), res.discounted, res.refused)
	if res.discounted != 3 || res.discount.StringFixed(2) != "240.00" {
		t.Fatalf("%d orders got %s of the rule's 240.00 budget, want 3 orders and 240.00", res.discounted, res.discount.StringFixed(2))
	}
	rows, spent := h.campaignUsage(t, "CAP-BUDGET", "R1")
	if rows != 3 || !spent.Equal(res.discount) {
		t.Fatalf("campaign_usage: %d rows, %s spent; the accepted orders got %d discounts, %s", rows, spent.StringFixed(2), res.discounted, res.discount.StringFixed(2))
	}
	// A refused order writes nothing: no order, no line, no audit row.
	if n := h.count("orders") - orders0; n != len(res.accepted) {
		t.Fatalf("%d orders recorded, %d accepted", n, len(res.accepted))
	}
	if n := h.count("audit_events WHERE entity = 'order'") - audit0; n != len(res.accepted) {
		t.Fatalf("%d order audit events, %d orders accepted", n, len(res.accepted))
	}
	// The campaign's figures are the accepted orders'.
	var d api.CampaignDetail
	h.do("GET", "/v1/campaigns/CAP-BUDGET", hqAdmin, nil).expect(t, 200).json(t, &d)
	if m := d.Measurement; m.Orders != 3 || !m.Discount.Equal(res.discount) || !m.Sales.Equal(res.sales) {
		t.Fatalf("campaign figures: %d orders, discount %s, sales %s; accepted: 3 orders, %s, %s",
			m.Orders, m.Discount.StringFixed(2), m.Sales.StringFixed(2), res.discount.StringFixed(2), res.sales.StringFixed(2))
	}
	// The budget is gone: the next order is priced without it, and says so.
	var q api.Quote
	h.do("POST", "/v1/pricing/quote", storeUser, map[string]any{"lines": lines("HY-01", 10)}).expect(t, 200).json(t, &q)
	if len(q.Promotions) != 1 || q.Promotions[0].Applied || !strings.Contains(q.Promotions[0].Note, "budget exhausted") {
		t.Fatalf("quote after the budget is spent: %+v", q.Promotions)
	}
}

// TestCampaignUsesPerBuyerHoldUnderConcurrentOrders: a rule one buyer may
// use once; ten orders of the store at the same moment — exactly one gets
// the discount. A rule without caps in the same order takes no lock and is
// recorded for every accepted order.
func TestCampaignUsesPerBuyerHoldUnderConcurrentOrders(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.liveCampaignFor(t, "CAP-USES", `[{"id":"R1","kind":"spend_off","priority":1,
		"tiers":[{"threshold":"1000.00","off":"50.00"}],"caps":{"uses_per_buyer":1}}]`)
	// Another campaign whose rule has the same ID and no cap: both are
	// recorded for one order (usage is keyed by campaign and rule).
	h.liveCampaignFor(t, "NOCAP", `[{"id":"R1","kind":"item_discount","priority":2,"scope":{"skus":["HY-01"]},"pct":"1"}]`)
	orders0 := h.count("orders")

	res := capOutcomes(t, h.raceOrders(t, "cap-uses", 10, lines("HY-01", 10)), "CAP-USES/R1")
	t.Logf("%d accepted (%d with the discount), %d refused", len(res.accepted), res.discounted, res.refused)
	if res.discounted != 1 || res.discount.StringFixed(2) != "50.00" {
		t.Fatalf("%d orders of one buyer got the once-per-buyer rule (%s), want exactly 1", res.discounted, res.discount.StringFixed(2))
	}
	if rows, spent := h.campaignUsage(t, "CAP-USES", "R1"); rows != 1 || spent.StringFixed(2) != "50.00" {
		t.Fatalf("campaign_usage for CAP-USES/R1: %d rows, %s", rows, spent.StringFixed(2))
	}
	if n := h.count("orders") - orders0; n != len(res.accepted) {
		t.Fatalf("%d orders recorded, %d accepted", n, len(res.accepted))
	}
	uncapped := 0
	for _, o := range res.accepted {
		for _, p := range o.Pricing.Promotions {
			if p.Rule == "NOCAP/R1" && p.Applied {
				uncapped++
			}
		}
	}
	if rows, _ := h.campaignUsage(t, "NOCAP", "R1"); uncapped != len(res.accepted) || rows != uncapped {
		t.Fatalf("uncapped rule: applied to %d of %d accepted orders, %d usage rows", uncapped, len(res.accepted), rows)
	}
	var q api.Quote
	h.do("POST", "/v1/pricing/quote", storeUser, map[string]any{"lines": lines("HY-01", 10)}).expect(t, 200).json(t, &q)
	for _, p := range q.Promotions {
		if p.Rule == "CAP-USES/R1" && (p.Applied || !strings.Contains(p.Note, "uses per buyer exhausted")) {
			t.Fatalf("quote after the one use: %+v", p)
		}
	}
}
