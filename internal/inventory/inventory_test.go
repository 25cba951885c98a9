package inventory_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/alliance/backoffice/db/dbgen"
	"github.com/alliance/backoffice/internal/inventory"
	"github.com/alliance/backoffice/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// fixture creates two warehouses (W1, W2) and one SKU.
func fixture(t *testing.T) (*pgxpool.Pool, *inventory.Ledger) {
	t.Helper()
	pool, _ := testenv.DB(t)
	_, err := pool.Exec(context.Background(), `
		INSERT INTO regions (code, name) VALUES ('EAST', 'East');
		INSERT INTO channels (code, name) VALUES ('CS', 'CS');
		INSERT INTO warehouses (code, name, kind, channel_code, owner_kind, region)
		VALUES ('W1', 'one', 'central', 'CS', 'hq', 'EAST'), ('W2', 'two', 'regional', 'CS', 'hq', 'EAST');
		INSERT INTO products (sku, name, series, list_price, case_size, launch_date)
		VALUES ('SKU1', 'Serum', 'S', 100.00, 12, '2026-01-01');`)
	if err != nil {
		t.Fatal(err)
	}
	return pool, inventory.NewLedger(pool)
}

func op(key string) inventory.Op {
	return inventory.Op{Key: key, Reference: "test " + key, Actor: "test"}
}

func balance(t *testing.T, pool *pgxpool.Pool, wh string) dbgen.InventoryBalance {
	t.Helper()
	b, err := dbgen.New(pool).GetBalance(context.Background(), dbgen.GetBalanceParams{WarehouseCode: wh, Sku: "SKU1"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func assertLedgerMatches(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	bad, err := dbgen.New(pool).LedgerMismatches(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) != 0 {
		t.Fatalf("balances differ from the ledger: %+v", bad)
	}
}

func post(t *testing.T, l *inventory.Ledger, p inventory.Posting) inventory.Result {
	t.Helper()
	r, err := l.Post(context.Background(), p)
	if err != nil {
		t.Fatalf("post %s: %v", p.Key, err)
	}
	return r
}

func TestConcurrentReservationsNeverOversell(t *testing.T) {
	t.Parallel()
	pool, l := fixture(t)
	post(t, l, inventory.Receive(op("in"), []inventory.Line{{Warehouse: "W1", SKU: "SKU1", Qty: 20}}))

	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, refused := 0, 0
	var other []error
	for i := range 50 {
		wg.Go(func() {
			_, err := l.Post(context.Background(), inventory.Reserve(op(fmt.Sprintf("r%d", i)),
				[]inventory.Line{{Warehouse: "W1", SKU: "SKU1", Qty: 1}}))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, inventory.ErrInsufficientStock):
				refused++
			default:
				other = append(other, err)
			}
		})
	}
	wg.Wait()
	if len(other) > 0 {
		t.Fatalf("unexpected errors: %v", other)
	}
	if ok != 20 || refused != 30 {
		t.Fatalf("succeeded %d, refused %d; want 20 and 30", ok, refused)
	}
	b := balance(t, pool, "W1")
	if b.OnHand != 20 || b.Reserved != 20 || *b.Available != 0 {
		t.Fatalf("balance = %+v, want on hand 20, reserved 20, available 0", b)
	}
	assertLedgerMatches(t, pool)
}

func TestPostingTwiceWithOneKeyPostsOnce(t *testing.T) {
	t.Parallel()
	pool, l := fixture(t)
	post(t, l, inventory.Receive(op("in"), []inventory.Line{{Warehouse: "W1", SKU: "SKU1", Qty: 10}}))
	reserve := inventory.Reserve(op("order-1:reserve"), []inventory.Line{{Warehouse: "W1", SKU: "SKU1", Qty: 4}})
	first := post(t, l, reserve)
	second := post(t, l, reserve)
	if first.Replayed || !second.Replayed {
		t.Fatalf("replayed = %v then %v, want false then true", first.Replayed, second.Replayed)
	}
	if len(second.Movements) != 1 || second.Movements[0].ID != first.Movements[0].ID {
		t.Fatalf("replay returned %+v, want the first posting's movement", second.Movements)
	}
	if b := balance(t, pool, "W1"); b.Reserved != 4 {
		t.Fatalf("reserved = %d, want 4 (posted once)", b.Reserved)
	}
	_, err := l.Post(context.Background(), inventory.Release(op("order-1:reserve"), []inventory.Line{{Warehouse: "W1", SKU: "SKU1", Qty: 4}}))
	if !errors.Is(err, inventory.ErrKeyReused) {
		t.Fatalf("reusing a key for another operation: err = %v, want ErrKeyReused", err)
	}
	assertLedgerMatches(t, pool)
}

func TestMoveArriveAndWriteOff(t *testing.T) {
	t.Parallel()
	pool, l := fixture(t)
	post(t, l, inventory.Receive(op("in"), []inventory.Line{{Warehouse: "W1", SKU: "SKU1", Qty: 100}}))
	post(t, l, inventory.Reserve(op("t1:reserve"), []inventory.Line{{Warehouse: "W1", SKU: "SKU1", Qty: 30}}))
	post(t, l, inventory.Move(op("t1:dispatch"), "W2", []inventory.Line{{Warehouse: "W1", SKU: "SKU1", Qty: 30}}, true))
	if b := balance(t, pool, "W1"); b.OnHand != 70 || b.Reserved != 0 {
		t.Fatalf("source after dispatch = %+v, want on hand 70, reserved 0", b)
	}
	if b := balance(t, pool, "W2"); b.InTransit != 30 || b.OnHand != 0 || *b.Available != 0 {
		t.Fatalf("destination after dispatch = %+v, want 30 in transit, nothing sellable", b)
	}
	post(t, l, inventory.Arrive(op("t1:receive"), []inventory.Line{{Warehouse: "W2", SKU: "SKU1", Qty: 28}}))
	post(t, l, inventory.WriteOff(op("t1:shortfall"), []inventory.Line{{Warehouse: "W2", SKU: "SKU1", Qty: 2}}))
	if b := balance(t, pool, "W2"); b.InTransit != 0 || b.OnHand != 28 {
		t.Fatalf("destination after receipt = %+v, want on hand 28, in transit 0", b)
	}
	// Nothing left in transit: another write-off must be refused.
	_, err := l.Post(context.Background(), inventory.WriteOff(op("t1:shortfall-2"), []inventory.Line{{Warehouse: "W2", SKU: "SKU1", Qty: 1}}))
	if !errors.Is(err, inventory.ErrInsufficientStock) {
		t.Fatalf("write-off below zero: err = %v, want ErrInsufficientStock", err)
	}
	assertLedgerMatches(t, pool)
}

func TestRefusedPostingsWriteNothing(t *testing.T) {
	t.Parallel()
	pool, l := fixture(t)
	post(t, l, inventory.Receive(op("in"), []inventory.Line{{Warehouse: "W1", SKU: "SKU1", Qty: 5}}))
	cases := []struct {
		name string
		p    inventory.Posting
		want error
	}{
		{"release more than reserved", inventory.Release(op("rel"), []inventory.Line{{Warehouse: "W1", SKU: "SKU1", Qty: 1}}), inventory.ErrInsufficientStock},
		{"ship more than on hand", inventory.Ship(op("ship"), []inventory.Line{{Warehouse: "W1", SKU: "SKU1", Qty: 6}}), inventory.ErrInsufficientStock},
		{"unknown SKU", inventory.Receive(op("x"), []inventory.Line{{Warehouse: "W1", SKU: "NOPE", Qty: 1}}), inventory.ErrUnknownItem},
		{"zero quantity", inventory.Reserve(op("z"), []inventory.Line{{Warehouse: "W1", SKU: "SKU1", Qty: 0}}), inventory.ErrInvalid},
		{"negative quantity", inventory.Receive(op("n"), []inventory.Line{{Warehouse: "W1", SKU: "SKU1", Qty: -3}}), inventory.ErrInvalid},
		{"no key", inventory.Receive(op(""), []inventory.Line{{Warehouse: "W1", SKU: "SKU1", Qty: 1}}), inventory.ErrInvalid},
		// A two-line posting whose second line fails leaves the first unposted too.
		{"partly valid", inventory.Reserve(op("two"), []inventory.Line{{Warehouse: "W1", SKU: "SKU1", Qty: 5}, {Warehouse: "W2", SKU: "SKU1", Qty: 1}}), inventory.ErrInsufficientStock},
	}
	for _, tc := range cases {
		if _, err := l.Post(context.Background(), tc.p); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	if b := balance(t, pool, "W1"); b.OnHand != 5 || b.Reserved != 0 {
		t.Fatalf("balance = %+v, want untouched (on hand 5, reserved 0)", b)
	}
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM inventory_postings`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d postings recorded, want only the receipt", n)
	}
	assertLedgerMatches(t, pool)
}

func TestDatabaseGuardsTheLedger(t *testing.T) {
	t.Parallel()
	pool, l := fixture(t)
	post(t, l, inventory.Receive(op("in"), []inventory.Line{{Warehouse: "W1", SKU: "SKU1", Qty: 5}}))
	ctx := context.Background()
	for _, stmt := range []string{
		`UPDATE inventory_balances SET on_hand = 500`,
		`INSERT INTO inventory_balances (warehouse_code, sku, on_hand) VALUES ('W2', 'SKU1', 9)`,
		`DELETE FROM inventory_balances`,
		`UPDATE inventory_movements SET on_hand_delta = 500`,
		`DELETE FROM inventory_movements`,
		`TRUNCATE inventory_movements CASCADE`,
		`DELETE FROM inventory_postings`,
		// A movement written straight into the ledger still obeys the balance constraints.
		`INSERT INTO inventory_movements (posting_key, warehouse_code, sku, reason, on_hand_delta, reserved_delta, in_transit_delta, reference, actor)
		 VALUES ('in', 'W1', 'SKU1', 'reserve', 0, 6, 0, 'x', 'x')`,
	} {
		if _, err := pool.Exec(ctx, stmt); err == nil {
			t.Errorf("%s: succeeded, want refused", stmt)
		}
	}
	if b := balance(t, pool, "W1"); b.OnHand != 5 || b.Reserved != 0 {
		t.Fatalf("balance = %+v, want untouched", b)
	}
	assertLedgerMatches(t, pool)
}

// BenchmarkReserve measures reservations per second against one hot
// (warehouse, SKU) row from parallel callers: the contended case.
func BenchmarkReserve(b *testing.B) {
	pool, _ := testenv.DB(b)
	_, err := pool.Exec(context.Background(), `
		INSERT INTO regions (code, name) VALUES ('EAST', 'East');
		INSERT INTO channels (code, name) VALUES ('CS', 'CS');
		INSERT INTO warehouses (code, name, kind, channel_code, owner_kind, region) VALUES ('W1', 'one', 'central', 'CS', 'hq', 'EAST');
		INSERT INTO products (sku, name, series, list_price, case_size, launch_date) VALUES ('SKU1', 'Serum', 'S', 100.00, 12, '2026-01-01');`)
	if err != nil {
		b.Fatal(err)
	}
	l := inventory.NewLedger(pool)
	if _, err := l.Post(context.Background(), inventory.Receive(op("in"), []inventory.Line{{Warehouse: "W1", SKU: "SKU1", Qty: 1 << 40}})); err != nil {
		b.Fatal(err)
	}
	var n sync.Mutex
	seq := 0
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n.Lock()
			seq++
			key := fmt.Sprintf("b%d", seq)
			n.Unlock()
			if _, err := l.Post(context.Background(), inventory.Reserve(op(key), []inventory.Line{{Warehouse: "W1", SKU: "SKU1", Qty: 1}})); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reservations/s")
}
