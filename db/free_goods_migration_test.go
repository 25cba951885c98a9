package db_test

import (
	"context"
	"testing"

	"github.com/alliance/backoffice/internal/seed"
	"github.com/alliance/backoffice/internal/testenv"
)

// The free-goods migration (00010) gives the orders recorded before it that
// are not reserved yet the free goods of their pricing, so approval reserves
// them; an order already reserved keeps what it reserved (its release and
// shipment must match). It goes down and up again.
func TestFreeGoodsMigrationOverExistingOrders(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, dsn := testenv.DB(t)
	if err := seed.Seed(ctx, pool); err != nil {
		t.Fatal(err)
	}
	p := provider(t, dsn)
	if _, err := p.DownTo(ctx, 9); err != nil {
		t.Fatal(err)
	}
	pool.Reset()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO campaigns (id, title, status, rules, target, ack_deadline, starts_at, ends_at, reminder_every_s, created_by)
		VALUES ('GIFT', 'Gift', 'live', '[]', '{}', now() - interval '2 days', now() - interval '1 day', now() + interval '1 day', 3600,
		        (SELECT min(id) FROM users))`)
	for _, o := range []struct{ id, status, reserved, pricing string }{
		{"PO-F-1", "pending_approval", "false", `{"free_goods":[{"sku":"HY-02","qty":2,"rule":"GIFT/G1","note":"10 bought: 2 free"},{"sku":"HY-03","qty":1,"rule":"GIFT/G/2","note":""}]}`},
		{"PO-F-2", "approved", "true", `{"free_goods":[{"sku":"HY-02","qty":2,"rule":"GIFT/G1","note":""}]}`},
		{"PO-F-3", "submitted", "false", `{"free_goods":null}`},
		{"PO-F-4", "submitted", "false", `{}`},
	} {
		exec(`INSERT INTO orders (id, buyer_kind, buyer_code, agent_code, store_code, region, warehouse_code, status, list_total, discount_total,
			net_total, credit_offset, payable, pricing, idempotency_key, created_by, reserved)
			VALUES ($1, 'store', 'ST-EAST-01', 'AG-EAST', 'ST-EAST-01', 'EAST', 'WH-EAST', $2, 100.00, 0, 100.00, 0, 100.00, $3, $1,
			        (SELECT min(id) FROM users), $4::boolean)`, o.id, o.status, o.pricing, o.reserved)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	pool.Reset()
	var got string
	if err := pool.QueryRow(ctx, `SELECT coalesce(string_agg(order_id || ' ' || line_no || ' ' || sku || ' ' || qty || ' ' || campaign_id || ' ' || rule_id || ' ' || note, '; '
		ORDER BY order_id, line_no), '') FROM order_free_goods`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if want := "PO-F-1 1 HY-02 2 GIFT G1 10 bought: 2 free; PO-F-1 2 HY-03 1 GIFT G/2 "; got != want {
		t.Fatalf("free goods after the migration:\n%q\nwant\n%q", got, want)
	}
	if _, err := p.DownTo(ctx, 9); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
}
