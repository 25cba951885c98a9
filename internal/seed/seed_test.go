package seed_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/alliance/backoffice/internal/auth"
	"github.com/alliance/backoffice/internal/seed"
	"github.com/alliance/backoffice/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestSeedIsIdempotentAndComplete(t *testing.T) {
	pool, _ := testenv.DB(t)
	ctx := context.Background()
	counts := func() map[string]int {
		out := map[string]int{}
		for _, table := range []string{"agents", "stores", "bas", "products", "warehouses", "users", "inventory_movements", "inventory_postings"} {
			var n int
			if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
				t.Fatal(err)
			}
			out[table] = n
		}
		return out
	}
	if err := seed.Seed(ctx, pool); err != nil {
		t.Fatal(err)
	}
	first := counts()
	want := map[string]int{"agents": 3, "stores": 12, "bas": 30, "products": 40, "warehouses": 7, "users": len(seed.DemoUsers())}
	for k, v := range want {
		if first[k] != v {
			t.Errorf("%s: %d, want %d", k, first[k], v)
		}
	}
	var kinds, regions int
	if err := pool.QueryRow(ctx, `SELECT count(DISTINCT kind) FROM warehouses`).Scan(&kinds); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(DISTINCT region) FROM agents`).Scan(&regions); err != nil {
		t.Fatal(err)
	}
	if kinds != 4 || regions != 3 {
		t.Errorf("%d warehouse kinds, %d agent regions; want 4 and 3", kinds, regions)
	}
	if err := seed.Seed(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if second := counts(); len(second) != len(first) || second["inventory_movements"] != first["inventory_movements"] || second["users"] != first["users"] {
		t.Fatalf("second seed changed the data: %v -> %v", first, second)
	}
}

func TestDemoTokensSurviveRestartsAndWork(t *testing.T) {
	pool, _ := testenv.DB(t)
	ctx := context.Background()
	if err := seed.Seed(ctx, pool); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "tokens.json")
	first, err := seed.DemoTokens(ctx, pool, file)
	if err != nil {
		t.Fatal(err)
	}
	authn := auth.NewAuthenticator(pool)
	for _, u := range seed.DemoUsers() {
		p, err := authn.Authenticate(ctx, first[u.Name])
		if err != nil || p.Role != u.Role || p.Name != u.Name {
			t.Errorf("%s: token authenticates as %+v (%v), want role %s", u.Name, p, err, u.Role)
		}
	}
	again, err := seed.DemoTokens(ctx, pool, file)
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range first {
		if again[name] != tok {
			t.Errorf("%s: token changed on the second run", name)
		}
	}
	// A lost file gives fresh tokens and revokes the old ones.
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	fresh, err := seed.DemoTokens(ctx, pool, file)
	if err != nil {
		t.Fatal(err)
	}
	if fresh["demo-hq-admin"] == first["demo-hq-admin"] {
		t.Fatal("token not renewed")
	}
	if _, err := authn.Authenticate(ctx, first["demo-hq-admin"]); err == nil {
		t.Fatal("the old demo token still works after renewal")
	}
}
