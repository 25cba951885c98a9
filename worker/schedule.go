package worker

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/alliance/backoffice/internal/rebate"
	"github.com/alliance/backoffice/workflows"
)

// SettlementScheduleSpec fires on the 6th of January, April, July and October
// at 00:00 UTC (08:00 in China): after a quarter's end plus its 5 grace days
// for returns (which end at 00:00 China time on the 6th).
func SettlementScheduleSpec() client.ScheduleSpec {
	return client.ScheduleSpec{Calendars: []client.ScheduleCalendarSpec{{
		Month:      []client.ScheduleRange{{Start: 1, End: 12, Step: 3}},
		DayOfMonth: []client.ScheduleRange{{Start: 1 + rebate.DefaultGraceDays}},
		Hour:       []client.ScheduleRange{{Start: 0}},
	}}}
}

// EnsureSettlementSchedule creates the quarterly settlement schedule
// (workflows.SettlementScheduleID) unless it exists. It runs the
// SettlementTrigger workflow, which starts the quarter's final settlement
// once: a quarter finance already settled is left alone.
func EnsureSettlementSchedule(ctx context.Context, c client.Client) error {
	_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:      workflows.SettlementScheduleID,
		Spec:    SettlementScheduleSpec(),
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Action: &client.ScheduleWorkflowAction{
			ID:        workflows.SettlementScheduleID,
			Workflow:  workflows.SettlementTrigger,
			Args:      []any{workflows.SettlementTriggerInput{GraceDays: rebate.DefaultGraceDays}},
			TaskQueue: workflows.TaskQueue,
			TypedSearchAttributes: temporal.NewSearchAttributes(
				workflows.SAEntity.ValueSet("settlement_trigger"), workflows.SAKey.ValueSet(workflows.SettlementScheduleID)),
		},
	})
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("worker: settlement schedule: %w", err)
	}
	return nil
}
