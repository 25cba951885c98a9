package activities_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/alliance/backoffice/activities"
	"github.com/alliance/backoffice/db/dbgen"
	"github.com/alliance/backoffice/internal/seed"
	"github.com/alliance/backoffice/internal/testenv"
)

// TestSettlementActivitiesRunTwice: freeze, compute, post and publish run
// twice (as after a worker death) give the same settlement and notes; the
// user who started it cannot approve it, even past the workflow's check.
func TestSettlementActivitiesRunTwice(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.DB(t)
	ctx := context.Background()
	if err := seed.Seed(ctx, pool); err != nil {
		t.Fatal(err)
	}
	q := dbgen.New(pool)
	fin, err := q.GetUserByName(ctx, "demo-finance")
	if err != nil {
		t.Fatal(err)
	}
	grade := "A"
	if _, err := q.InsertRebateProgram(ctx, dbgen.InsertRebateProgramParams{Code: "VOL", Name: "Volume", Grade: &grade,
		Rules: []byte(`{"mode":"retroactive","tiers":[{"from":"0","rate_pct":"1"}]}`), EffectiveFrom: mustDate("2026-01-01")}); err != nil {
		t.Fatal(err)
	}
	a := &activities.Rebates{Pool: pool}
	spec := activities.SettlementSpec{ID: "2026-Q3", Period: "2026-Q3", Kind: "final", StartedBy: fin.ID, GraceDays: 5}
	for range 2 {
		fr, err := a.Freeze(ctx, spec)
		if err != nil || fr.Agents != 1 || fr.Programs != 1 {
			t.Fatalf("freeze %+v: %v", fr, err)
		}
		r, err := a.ComputeBatch(ctx, activities.BatchInput{ID: "2026-Q3", Limit: 10})
		if err != nil || r.Last != "AG-EAST" || r.Done != 1 {
			t.Fatalf("compute %+v: %v", r, err)
		}
	}
	if err := a.SetSettlementStatus(ctx, activities.SettlementStatusInput{ID: "2026-Q3", Status: activities.SettlementReview}); err != nil {
		t.Fatal(err)
	}
	var ae *temporal.ApplicationError
	if err := a.Approve(ctx, activities.ApproveInput{ID: "2026-Q3", UserID: fin.ID}); !errors.As(err, &ae) || !ae.NonRetryable() {
		t.Fatalf("approval by the starter: %v", err)
	}
	if _, err := a.Freeze(ctx, activities.SettlementSpec{ID: "2026-Q3-interim-1", Period: "2026-Q3", Kind: "interim", GraceDays: 5}); !errors.As(err, &ae) || ae.Type() != "Conflict" {
		t.Fatalf("interim after a final: %v", err)
	}
	st, err := q.GetSettlement(ctx, "2026-Q3")
	if err != nil || st.AgentsTotal != 1 || st.AgentsDone != 1 || st.ApprovedBy != nil {
		t.Fatalf("settlement %+v: %v", st, err)
	}
}

func mustDate(s string) time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return d
}
