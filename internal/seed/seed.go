// Package seed loads the demo data set: HQ, three agents in different
// regions, twelve stores, thirty BAs, forty SKUs in five series, central,
// regional, front and duty-free warehouses with stock, and one demo user per
// role. Seeding is idempotent: run it again and nothing changes.
package seed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/alliance/backoffice/db/dbgen"
	"github.com/alliance/backoffice/internal/auth"
	"github.com/alliance/backoffice/internal/inventory"
)

// DemoUser is a demo user and the role it demonstrates.
type DemoUser struct {
	Name  string
	Role  auth.Role
	Agent string
	Store string
	BA    string
}

// DemoUsers are the users the seed creates: one per role, plus a second and
// third agent to show scoping.
func DemoUsers() []DemoUser {
	return []DemoUser{
		{Name: "demo-hq-admin", Role: auth.RoleHQAdmin},
		{Name: "demo-hq-sales", Role: auth.RoleHQSales},
		{Name: "demo-finance", Role: auth.RoleFinance},
		{Name: "demo-agent-east", Role: auth.RoleAgent, Agent: "AG-EAST"},
		{Name: "demo-agent-south", Role: auth.RoleAgent, Agent: "AG-SOUTH"},
		{Name: "demo-agent-north", Role: auth.RoleAgent, Agent: "AG-NORTH"},
		{Name: "demo-store", Role: auth.RoleStore, Store: "ST-EAST-01"},
		{Name: "demo-ba", Role: auth.RoleBA, BA: "BA-001"},
		{Name: "demo-ops", Role: auth.RoleOps},
	}
}

type agentSeed struct {
	code, name, grade, region, territory string
}

var (
	regions = [][2]string{{"EAST", "East China 华东"}, {"SOUTH", "South China 华南"}, {"NORTH", "North China 华北"}}
	// Channels: the CS channel (化妆品店 professional stores), e-commerce, duty free.
	channels = [][2]string{{"CS", "CS channel (cosmetics stores)"}, {"ECOM", "E-commerce"}, {"DUTYFREE", "Duty free"}}
	grades   = []dbgen.UpsertGradePolicyParams{
		{Grade: "A", DiscountPct: d("35.00"), MonthlyOrderQuota: d("800000.00"), CreditLimitDefault: d("500000.00"), AutoApprovalLimit: d("100000.00"), ReturnRatioCapPct: d("5.00")},
		{Grade: "B", DiscountPct: d("30.00"), MonthlyOrderQuota: d("400000.00"), CreditLimitDefault: d("200000.00"), AutoApprovalLimit: d("50000.00"), ReturnRatioCapPct: d("4.00")},
		{Grade: "C", DiscountPct: d("25.00"), MonthlyOrderQuota: d("150000.00"), CreditLimitDefault: d("80000.00"), AutoApprovalLimit: d("20000.00"), ReturnRatioCapPct: d("3.00")},
	}
	agents = []agentSeed{
		{"AG-EAST", "Shanghai Meili Trading 上海美丽商贸", "A", "EAST", "Shanghai, Jiangsu, Zhejiang"},
		{"AG-SOUTH", "Guangzhou Yanzhi Distribution 广州颜值分销", "B", "SOUTH", "Guangdong, Guangxi"},
		{"AG-NORTH", "Beijing Jiaren Cosmetics 北京佳人化妆品", "C", "NORTH", "Beijing, Tianjin, Hebei"},
	}
	series = []struct {
		code, name string
		price      string
		caseSize   int32
		launch     string
	}{
		{"HY", "Hydra Balance", "168.00", 24, "2024-03-01"},
		{"RD", "Radiance White", "298.00", 12, "2024-09-01"},
		{"YR", "Youth Repair", "468.00", 12, "2025-03-15"},
		{"SS", "Sun Shield", "138.00", 48, "2025-05-01"},
		{"AB", "Amber Glow (new 2026)", "388.00", 6, "2026-09-01"},
	}
	items = []string{"Cleanser", "Toner", "Essence", "Serum", "Cream", "Eye Cream", "Mask", "Mist"}
)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// Seed loads the demo data into the database at pool. It can run any number
// of times: rows are upserted or created only when missing, stock is posted
// under fixed idempotency keys.
func Seed(ctx context.Context, pool *pgxpool.Pool) error {
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		q := dbgen.New(tx)
		for _, r := range regions {
			if _, err := q.UpsertRegion(ctx, dbgen.UpsertRegionParams{Code: r[0], Name: r[1]}); err != nil {
				return fmt.Errorf("region %s: %w", r[0], err)
			}
		}
		for _, c := range channels {
			if err := ensure(q.GetChannel(ctx, c[0])); err != nil {
				if _, err := q.CreateChannel(ctx, dbgen.CreateChannelParams{Code: c[0], Name: c[1]}); err != nil {
					return fmt.Errorf("channel %s: %w", c[0], err)
				}
			}
		}
		for _, g := range grades {
			if err := ensure(q.GetGradePolicy(ctx, g.Grade)); err != nil {
				if _, err := q.UpsertGradePolicy(ctx, g); err != nil {
					return fmt.Errorf("grade %s: %w", g.Grade, err)
				}
			}
		}
		for i, a := range agents {
			if err := ensure(q.GetAgent(ctx, a.code)); err != nil {
				if _, err := q.CreateAgent(ctx, dbgen.CreateAgentParams{
					Code: a.code, Name: a.name, Grade: a.grade, Region: a.region, Territory: a.territory,
					CreditLimit: grades[i].CreditLimitDefault,
				}); err != nil {
					return fmt.Errorf("agent %s: %w", a.code, err)
				}
			}
		}
		ladder, err := q.GetDiscountLadder(ctx)
		if err != nil {
			return fmt.Errorf("discount ladder: %w", err)
		}
		if len(ladder) == 0 {
			for _, t := range [][2]string{{"50000.00", "1.00"}, {"200000.00", "2.00"}, {"500000.00", "3.00"}} {
				if err := q.InsertDiscountTier(ctx, dbgen.InsertDiscountTierParams{Threshold: d(t[0]), DiscountPct: d(t[1])}); err != nil {
					return fmt.Errorf("discount ladder: %w", err)
				}
			}
		}
		if err := seedStoresAndBAs(ctx, q); err != nil {
			return err
		}
		if err := seedProducts(ctx, q); err != nil {
			return err
		}
		if err := seedWarehouses(ctx, q); err != nil {
			return err
		}
		for _, u := range DemoUsers() {
			if _, err := q.UpsertUser(ctx, dbgen.UpsertUserParams{
				Name: u.Name, Role: string(u.Role), AgentCode: opt(u.Agent), StoreCode: opt(u.Store), BaCode: opt(u.BA),
			}); err != nil {
				return fmt.Errorf("user %s: %w", u.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	return seedStock(ctx, pool)
}

func ensure[T any](_ T, err error) error { return err }

func opt(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func seedStoresAndBAs(ctx context.Context, q *dbgen.Queries) error {
	ba := 0
	for _, a := range agents {
		suffix := a.region
		for i := 1; i <= 4; i++ {
			code := fmt.Sprintf("ST-%s-%02d", suffix, i)
			kind := "collection"
			if i%2 == 0 {
				kind = "single_brand"
			}
			if err := ensure(q.GetStore(ctx, code)); err != nil {
				if _, err := q.CreateStore(ctx, dbgen.CreateStoreParams{
					Code: code, Name: fmt.Sprintf("%s store %d", a.region, i), AgentCode: a.code, Region: a.region, Kind: kind,
				}); err != nil {
					return fmt.Errorf("store %s: %w", code, err)
				}
			}
			// 30 BAs over 12 stores: 3 in the first six stores, 2 in the others.
			n := 2
			if ba < 18 {
				n = 3
			}
			for j := 0; j < n; j++ {
				ba++
				bcode := fmt.Sprintf("BA-%03d", ba)
				if err := ensure(q.GetBA(ctx, bcode)); err != nil {
					hired := time.Date(2024, time.Month(1+ba%12), 1+ba%27, 0, 0, 0, 0, time.UTC)
					if _, err := q.CreateBA(ctx, dbgen.CreateBAParams{
						Code: bcode, Name: fmt.Sprintf("Beauty advisor %d", ba), StoreCode: code, HiredOn: &hired,
					}); err != nil {
						return fmt.Errorf("BA %s: %w", bcode, err)
					}
				}
			}
		}
	}
	return nil
}

// SKUs returns the 40 demo SKUs: five series of eight items.
func SKUs() []string {
	var out []string
	for _, s := range series {
		for i := range items {
			out = append(out, fmt.Sprintf("%s-%02d", s.code, i+1))
		}
	}
	return out
}

func seedProducts(ctx context.Context, q *dbgen.Queries) error {
	for _, s := range series {
		base := d(s.price)
		launch, _ := time.Parse(time.DateOnly, s.launch)
		for i, item := range items {
			sku := fmt.Sprintf("%s-%02d", s.code, i+1)
			if err := ensure(q.GetProduct(ctx, sku)); err == nil {
				continue
			}
			// Prices vary by item around the series' base price, to the fen.
			price := base.Mul(d("0.8").Add(decimal.NewFromInt(int64(i)).Mul(d("0.05")))).Round(2) // exact already: base has 2 decimals, factor 2
			if _, err := q.CreateProduct(ctx, dbgen.CreateProductParams{
				Sku: sku, Name: s.name + " " + item, Series: s.name, ListPrice: price, CaseSize: s.caseSize, LaunchDate: launch,
				WholeCases: s.code == "SS", // sun care ships in whole cases only
			}); err != nil {
				return fmt.Errorf("product %s: %w", sku, err)
			}
		}
	}
	return nil
}

type warehouseSeed struct {
	code, name, kind, channel, owner, region string
}

var warehouses = []warehouseSeed{
	{"WH-CENTRAL", "HQ central warehouse 总仓 (Suzhou)", "central", "CS", "", "EAST"},
	{"WH-ECOM", "E-commerce fulfilment centre", "central", "ECOM", "", "EAST"},
	{"WH-DUTYFREE", "Hainan duty-free warehouse 免税仓", "duty_free", "DUTYFREE", "", "SOUTH"},
	{"WH-EAST", "AG-EAST regional warehouse 区域仓", "regional", "CS", "AG-EAST", "EAST"},
	{"WH-EAST-FRONT", "AG-EAST Hangzhou front warehouse 前置仓", "front", "CS", "AG-EAST", "EAST"},
	{"WH-SOUTH", "AG-SOUTH regional warehouse 区域仓", "regional", "CS", "AG-SOUTH", "SOUTH"},
	{"WH-NORTH", "AG-NORTH regional warehouse 区域仓", "regional", "CS", "AG-NORTH", "NORTH"},
}

func seedWarehouses(ctx context.Context, q *dbgen.Queries) error {
	for _, w := range warehouses {
		if err := ensure(q.GetWarehouse(ctx, w.code)); err == nil {
			continue
		}
		ownerKind := "hq"
		if w.owner != "" {
			ownerKind = "agent"
		}
		if _, err := q.CreateWarehouse(ctx, dbgen.CreateWarehouseParams{
			Code: w.code, Name: w.name, Kind: w.kind, ChannelCode: w.channel, OwnerKind: ownerKind,
			OwnerAgentCode: opt(w.owner), Region: w.region,
		}); err != nil {
			return fmt.Errorf("warehouse %s: %w", w.code, err)
		}
	}
	return nil
}

// seedStock receives opening stock into every warehouse: HQ's central
// warehouse holds the most, agents' warehouses less. Each warehouse's opening
// stock is one posting under a fixed key, so it is posted once.
func seedStock(ctx context.Context, pool *pgxpool.Pool) error {
	ledger := inventory.NewLedger(pool)
	for wi, w := range warehouses {
		var lines []inventory.Line
		for si, sku := range SKUs() {
			qty := int64(0)
			switch w.kind {
			case "central":
				qty = int64(2400 + 120*((si+wi)%10))
			case "duty_free":
				qty = int64(300 + 30*(si%5))
			default:
				qty = int64(240 + 24*((si*3+wi)%7))
			}
			if w.kind == "duty_free" && si%3 != 0 {
				continue // duty free carries a selection
			}
			lines = append(lines, inventory.Line{Warehouse: w.code, SKU: sku, Qty: qty})
		}
		_, err := ledger.Post(ctx, inventory.Receive(inventory.Op{
			Key: "seed:opening:" + w.code, Reference: "opening stock", Actor: "seed",
		}, lines))
		if err != nil {
			return fmt.Errorf("seed: opening stock of %s: %w", w.code, err)
		}
	}
	return nil
}

// DemoTokens makes sure every demo user has a working token and returns
// them by user name. Clear tokens are kept in file (mode 0600) so a second
// run shows the same ones; a token missing from the file or no longer valid
// is replaced by a fresh one. Meant for development machines only.
func DemoTokens(ctx context.Context, pool *pgxpool.Pool, file string) (map[string]string, error) {
	tokens := map[string]string{}
	if b, err := os.ReadFile(file); err == nil {
		if err := json.Unmarshal(b, &tokens); err != nil {
			return nil, fmt.Errorf("demo tokens: %s is not valid JSON: %w", file, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("demo tokens: %w", err)
	}
	authn := auth.NewAuthenticator(pool)
	q := dbgen.New(pool)
	changed := false
	for _, u := range DemoUsers() {
		if tok, ok := tokens[u.Name]; ok {
			if p, err := authn.Authenticate(ctx, tok); err == nil && p.Name == u.Name {
				continue
			}
		}
		user, err := q.GetUserByName(ctx, u.Name)
		if err != nil {
			return nil, fmt.Errorf("demo tokens: user %s (run the seed first): %w", u.Name, err)
		}
		if err := q.RevokeUserTokens(ctx, dbgen.RevokeUserTokensParams{UserID: user.ID, Label: "demo"}); err != nil {
			return nil, fmt.Errorf("demo tokens: revoke old token of %s: %w", u.Name, err)
		}
		tok, err := auth.IssueToken(ctx, q, user.ID, "demo")
		if err != nil {
			return nil, err
		}
		tokens[u.Name], changed = tok, true
	}
	if changed {
		b, _ := json.MarshalIndent(tokens, "", "  ")
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			return nil, fmt.Errorf("demo tokens: %w", err)
		}
		if err := os.WriteFile(file, b, 0o600); err != nil {
			return nil, fmt.Errorf("demo tokens: %w", err)
		}
	}
	return tokens, nil
}
