package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/alliance/backoffice/api"
)

// TestCampaignTermsOnlyAfterAcknowledgement: a live campaign's terms apply
// only to targets that acknowledged it (强制确认). Unacknowledged, the store
// orders at normal terms and the quote says why; acknowledged, the same
// order gets the campaign's discount, and the order's use of it is recorded.
func TestCampaignTermsOnlyAfterAcknowledgement(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	admin := 0
	if err := h.pool.QueryRow(ctx, `SELECT id FROM users WHERE name = 'demo-hq-admin'`).Scan(&admin); err != nil {
		t.Fatal(err)
	}
	// A live campaign: spend 1000.00, get 80.00 off, for stores of EAST.
	if _, err := h.pool.Exec(ctx, `
		INSERT INTO campaigns (id, title, status, rules, target, ack_deadline, starts_at, ends_at, reminder_every_s, created_by, published_at)
		VALUES ('CMP-T', 'Winter hydration', 'live',
		        '[{"id":"R1","kind":"spend_off","priority":1,"tiers":[{"threshold":"1000.00","off":"80.00"}]}]',
		        '{"buyer_kinds":["store"],"regions":["EAST"]}',
		        now() - interval '2 days', now() - interval '1 day', now() + interval '30 days', 86400, $1, now() - interval '3 days')`, admin); err != nil {
		t.Fatal(err)
	}
	if _, err := h.pool.Exec(ctx, `
		INSERT INTO campaign_targets (campaign_id, target_kind, target_code, agent_code, region, notified_at)
		VALUES ('CMP-T', 'store', 'ST-EAST-01', 'AG-EAST', 'EAST', now() - interval '3 days')`); err != nil {
		t.Fatal(err)
	}
	body := map[string]any{"lines": lines("HY-01", 10)}
	// 10 × 134.40 = 1344.00 − 10% grade S = 1209.60.
	var q api.Quote
	h.do("POST", "/v1/pricing/quote", storeUser, body).expect(t, 200).json(t, &q)
	if q.Payable.StringFixed(2) != "1209.60" || len(q.Promotions) != 1 || q.Promotions[0].Applied ||
		!strings.Contains(q.Promotions[0].Note, "not acknowledged") {
		t.Fatalf("unacknowledged quote: payable %s, promotions %+v", q.Payable.StringFixed(2), q.Promotions)
	}
	normal := h.submit(t, storeUser, "camp-before", lines("HY-01", 10))
	if normal.Payable.StringFixed(2) != "1209.60" {
		t.Fatalf("order before acknowledging: payable %s", normal.Payable.StringFixed(2))
	}

	if _, err := h.pool.Exec(ctx, `UPDATE campaign_targets SET acknowledged_at = now() WHERE campaign_id = 'CMP-T'`); err != nil {
		t.Fatal(err)
	}
	h.do("POST", "/v1/pricing/quote", storeUser, body).expect(t, 200).json(t, &q)
	// 1209.60 ≥ 1000.00 → 80.00 off → 1129.60.
	if q.Payable.StringFixed(2) != "1129.60" || !q.Promotions[0].Applied || q.PromotionDiscount.StringFixed(2) != "80.00" {
		t.Fatalf("acknowledged quote: payable %s, promotions %+v", q.Payable.StringFixed(2), q.Promotions)
	}
	with := h.submit(t, storeUser, "camp-after", lines("HY-01", 10))
	if with.Payable.StringFixed(2) != "1129.60" {
		t.Fatalf("order after acknowledging: payable %s", with.Payable.StringFixed(2))
	}
	var uses int
	if err := h.pool.QueryRow(ctx, `SELECT count(*) FROM campaign_usage WHERE campaign_id = 'CMP-T' AND rule_id = 'R1' AND order_id = $1 AND discount = 80.00`, with.ID).Scan(&uses); err != nil {
		t.Fatal(err)
	}
	if uses != 1 {
		t.Fatalf("%d usage rows for the discounted order, want 1", uses)
	}
	// A store of another agent, not targeted, never sees the campaign.
	h.do("POST", "/v1/pricing/quote", agentSouth, body).expect(t, 200).json(t, &q)
	if len(q.Promotions) != 0 {
		t.Fatalf("untargeted buyer sees %+v", q.Promotions)
	}
}
