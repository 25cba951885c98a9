package db_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/shopspring/decimal"

	"github.com/alliance/backoffice/db"
	"github.com/alliance/backoffice/internal/seed"
	"github.com/alliance/backoffice/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func provider(t *testing.T, dsn string) *goose.Provider {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	sqlDB := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { _ = sqlDB.Close() })
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, db.Migrations())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The rebate-ledger migration (00008) goes down and up again over data: an
// order recorded before it gets its lines' net values allocated exactly (the
// lines add up to the order's net total), a debit note recorded before it
// owes its whole amount, and going down over a recovery is refused rather
// than losing it.
func TestRebateLedgerMigrationOverExistingData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, dsn := testenv.DB(t)
	if err := seed.Seed(ctx, pool); err != nil {
		t.Fatal(err)
	}
	p := provider(t, dsn)
	if _, err := p.DownTo(ctx, 7); err != nil {
		t.Fatal(err)
	}
	pool.Reset() // the connections' cached plans know the newer columns
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// Before 00008: an order of three lines (net amounts 100.00, 100.00,
	// 50.00) whose order-level discounts bring it to 200.00, and a debit
	// note (which then had nothing remaining).
	exec(`INSERT INTO orders (id, buyer_kind, buyer_code, agent_code, region, warehouse_code, status, list_total, discount_total,
		net_total, credit_offset, payable, pricing, idempotency_key, created_by)
		VALUES ('PO-M-1', 'agent', 'AG-EAST', 'AG-EAST', 'EAST', 'WH-CENTRAL', 'delivered', 400.00, 200.00, 200.00, 0, 200.00, '{}', 'm-1',
		        (SELECT min(id) FROM users))`)
	exec(`INSERT INTO order_lines (order_id, line_no, sku, qty, list_price, net_amount) VALUES
		('PO-M-1', 1, 'HY-01', 1, 150.00, 100.00), ('PO-M-1', 2, 'HY-02', 1, 150.00, 100.00), ('PO-M-1', 3, 'HY-03', 1, 100.00, 50.00)`)
	exec(`INSERT INTO rebate_settlements (id, period, kind, cutoff, returns_cutoff) VALUES ('2026-Q2', '2026-Q2', 'final', now(), now())`)
	exec(`INSERT INTO credit_notes (no, settlement_id, period, agent_code, program_code, kind, amount, remaining)
		VALUES ('DN-1', '2026-Q2', '2026-Q2', 'AG-EAST', 'VOL', 'debit', 30.00, 0)`)

	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	pool.Reset()
	// 200 × 100/250 = 80, 80, 40: exact.  Then an order whose shares are not
	// whole fens is allocated by largest remainder below.
	rows, err := pool.Query(ctx, `SELECT net_value FROM order_lines WHERE order_id = 'PO-M-1' ORDER BY line_no`)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := pgx.CollectRows(rows, pgx.RowTo[decimal.Decimal])
	if err != nil || len(vals) != 3 || vals[0].StringFixed(2) != "80.00" || vals[1].StringFixed(2) != "80.00" || vals[2].StringFixed(2) != "40.00" {
		t.Fatalf("net values %v: %v", vals, err)
	}
	var owed decimal.Decimal
	if err := pool.QueryRow(ctx, `SELECT remaining FROM credit_notes WHERE no = 'DN-1'`).Scan(&owed); err != nil || owed.StringFixed(2) != "30.00" {
		t.Fatalf("debit note owes %s: %v", owed, err)
	}

	// Down to 7 and up again, with an order of 100.00 over three equal
	// lines: 33.34, 33.33, 33.33 (the first of equal remainders gets the fen).
	if _, err := p.DownTo(ctx, 7); err != nil {
		t.Fatal(err)
	}
	pool.Reset()
	exec(`INSERT INTO orders (id, buyer_kind, buyer_code, agent_code, region, warehouse_code, status, list_total, discount_total,
		net_total, credit_offset, payable, pricing, idempotency_key, created_by)
		VALUES ('PO-M-2', 'agent', 'AG-EAST', 'AG-EAST', 'EAST', 'WH-CENTRAL', 'delivered', 150.00, 50.00, 100.00, 0, 100.00, '{}', 'm-2',
		        (SELECT min(id) FROM users))`)
	exec(`INSERT INTO order_lines (order_id, line_no, sku, qty, list_price, net_amount) VALUES
		('PO-M-2', 1, 'HY-01', 1, 50.00, 50.00), ('PO-M-2', 2, 'HY-02', 1, 50.00, 50.00), ('PO-M-2', 3, 'HY-03', 1, 50.00, 50.00)`)
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	pool.Reset()
	var got string
	if err := pool.QueryRow(ctx, `SELECT string_agg(net_value::text, ' ' ORDER BY line_no) FROM order_lines WHERE order_id = 'PO-M-2'`).Scan(&got); err != nil ||
		got != "33.34 33.33 33.33" {
		t.Fatalf("net values %q: %v", got, err)
	}

	// A credit note recovers the debit; going down would lose that: refused.
	exec(`INSERT INTO credit_notes (no, settlement_id, period, agent_code, program_code, kind, amount, remaining)
		VALUES ('CN-1', '2026-Q2', '2026-Q2', 'AG-EAST', 'OTHER', 'credit', 100.00, 100.00)`)
	var left decimal.Decimal
	if err := pool.QueryRow(ctx, `SELECT remaining FROM credit_notes WHERE no = 'CN-1'`).Scan(&left); err != nil || left.StringFixed(2) != "70.00" {
		t.Fatalf("credit left after recovery %s: %v", left, err)
	}
	if _, err := p.DownTo(ctx, 7); err == nil {
		t.Fatal("migrating down over a recovery was allowed")
	}
	var version sql.NullInt64
	if err := pool.QueryRow(ctx, `SELECT max(version_id) FROM goose_db_version`).Scan(&version); err != nil || version.Int64 < 8 {
		t.Fatalf("version after the refused down %v: %v", version, err)
	}
}
