package workflows

import (
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/alliance/backoffice/activities"
	"github.com/alliance/backoffice/internal/rebate"
)

// SettlementScheduleID is the Temporal Schedule that starts the quarterly
// final settlement.
const SettlementScheduleID = "rebate-quarterly"

// SettlementTriggerInput starts a SettlementTrigger workflow.
type SettlementTriggerInput struct {
	GraceDays int `json:"grace_days"`
}

// SettlementTriggerResult says what the trigger did.
type SettlementTriggerResult struct {
	Period  string `json:"period"`
	Started bool   `json:"started"`
}

// SettlementTrigger is what the quarterly schedule runs (scheduled runs get
// the action time appended to their workflow ID, so the schedule cannot
// deduplicate by itself): it starts the final settlement of the quarter that
// ended last as the child `rebate:<period>`, whose ID is never reused — a
// quarter already settled (by finance through the API, or by an earlier
// run) is left alone.
func SettlementTrigger(ctx workflow.Context, in SettlementTriggerInput) (SettlementTriggerResult, error) {
	period := rebate.PeriodOf(workflow.Now(ctx).In(activities.SettlementLocation)).Prev()
	res := SettlementTriggerResult{Period: period.Key()}
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:            SettlementID(period.Key()),
		TaskQueue:             TaskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
		StaticSummary:         fmt.Sprintf("Rebate settlement %s (final, scheduled)", period.Key()),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			SAEntity.ValueSet(EntitySettlement), SAKey.ValueSet(period.Key()), SAStatus.ValueSet(activities.SettlementStarted)),
	})
	child := workflow.ExecuteChildWorkflow(cctx, Settlement, SettlementInput{SettlementSpec: activities.SettlementSpec{
		ID: period.Key(), Period: period.Key(), Kind: string(rebate.Final), GraceDays: in.GraceDays}})
	var exec workflow.Execution
	err := child.GetChildWorkflowExecution().Get(ctx, &exec)
	if temporal.IsWorkflowExecutionAlreadyStartedError(err) {
		workflow.GetLogger(ctx).Info("quarter already settled", "period", period.Key())
		return res, nil
	}
	if err != nil {
		return res, err
	}
	res.Started = true
	return res, nil
}
