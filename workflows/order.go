package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/alliance/backoffice/activities"
)

// EntityOrder is the BoEntity value of order approval workflows.
const EntityOrder = "order"

// Update and query names of the order approval workflow.
const (
	OrderDecideUpdate = "decide"
	OrderFulfilUpdate = "fulfil"
	OrderCancelUpdate = "cancel"
	OrderStatusQuery  = "status"
)

// Application error types the order workflow's update validators return;
// the API maps them to HTTP statuses.
const (
	ErrTypeForbidden = "Forbidden" // wrong role or scope for this step (403)
	ErrTypeConflict  = "Conflict"  // not possible in the order's state (409)
	ErrTypeInvalid   = "Invalid"   // malformed request (422)
)

// OrderID is the workflow ID of the order with business key id.
func OrderID(id string) string { return workflowID("order", id) }

// OrderInput starts an OrderApproval workflow.
type OrderInput struct {
	OrderID string `json:"order_id"`
}

// Actor is who sends a decision, fulfilment or cancellation, as the API
// authenticated them.
type Actor struct {
	UserID int64  `json:"user_id"`
	Role   string `json:"role"`
	Agent  string `json:"agent,omitempty"`
}

// Decision is an approver's decision on the current (or a named) step.
type Decision struct {
	Actor   Actor  `json:"actor"`
	Step    int    `json:"step,omitempty"` // 0: the current step
	Approve bool   `json:"approve"`
	Comment string `json:"comment"`
}

// Fulfilment reports a fulfilment stage.
type Fulfilment struct {
	Actor          Actor  `json:"actor"`
	Stage          string `json:"stage"`
	Carrier        string `json:"carrier,omitempty"`
	TrackingNumber string `json:"tracking_number,omitempty"`
}

// Cancellation cancels an order.
type Cancellation struct {
	Actor  Actor  `json:"actor"`
	Reason string `json:"reason"`
}

// OrderState is what the status query returns and updates answer with.
type OrderState struct {
	Status      string                    `json:"status"`
	Steps       []activities.ApprovalStep `json:"steps,omitempty"`
	CurrentStep int                       `json:"current_step,omitempty"`
	Escalated   bool                      `json:"escalated,omitempty"`
	Reason      string                    `json:"reason,omitempty"`
}

// escalationRole is who may also decide a step once it has escalated.
func escalationRole(role string) string {
	switch role {
	case "agent":
		return "hq_sales"
	default:
		return "hq_admin"
	}
}

type orderWF struct {
	in       OrderInput
	st       OrderState
	deciders []int64 // users who approved a step already (four eyes)
	queue    []*orderCmd
}

type orderCmd struct {
	decide *Decision
	fulfil *Fulfilment
	cancel *Cancellation
	done   bool
	err    error
}

func appErr(kind, format string, args ...any) error {
	return temporal.NewApplicationError(fmt.Sprintf(format, args...), kind)
}

func (w *orderWF) closed() bool {
	switch w.st.Status {
	case activities.OrderDelivered, activities.OrderRejected, activities.OrderExpired, activities.OrderCancelled:
		return true
	}
	return false
}

// orderUpdateAwaitsRouteChange is the GetVersion change ID of decisions and
// fulfilment reports that arrive while the order is still being routed (the
// evaluation in flight, which the API may already show as routed): from
// version 1 they are accepted, wait for the route, and are validated again
// against it; before, they were refused as "no decision is awaited". Only
// such an update takes the new path and records the marker, so earlier
// histories replay unchanged.
const orderUpdateAwaitsRouteChange = "order-update-awaits-route"

// routing reports whether the order's route is still being evaluated.
func (w *orderWF) routing() bool { return w.st.Status == activities.OrderSubmitted }

// afterRoute, in the handler of an update accepted while the order was being
// routed, waits for the route and validates the request again against it.
func (w *orderWF) afterRoute(ctx workflow.Context, validate func() error) error {
	if !w.routing() {
		return nil
	}
	workflow.GetVersion(ctx, orderUpdateAwaitsRouteChange, workflow.DefaultVersion, 1)
	if err := workflow.Await(ctx, func() bool { return !w.routing() }); err != nil {
		return err
	}
	return validate()
}

func (w *orderWF) validateDecision(d Decision) error {
	if w.routing() { // checked again once routed (afterRoute)
		if !d.Approve && d.Comment == "" {
			return appErr(ErrTypeInvalid, "a rejection needs a comment")
		}
		return nil
	}
	if w.st.Status != activities.OrderPendingApproval {
		return appErr(ErrTypeConflict, "the order is %s: no decision is awaited", w.st.Status)
	}
	cur := w.st.Steps[w.st.CurrentStep-1]
	if d.Step != 0 && d.Step != cur.No {
		if d.Step < cur.No {
			return appErr(ErrTypeConflict, "step %d was already decided", d.Step)
		}
		return appErr(ErrTypeConflict, "step %d is not open yet; step %d is", d.Step, cur.No)
	}
	allowed := d.Actor.Role == cur.Role || (w.st.Escalated && d.Actor.Role == escalationRole(cur.Role))
	if !allowed {
		return appErr(ErrTypeForbidden, "step %d waits for %s, not %s", cur.No, cur.Role, d.Actor.Role)
	}
	if d.Actor.Role == "agent" && d.Actor.Agent != cur.Agent {
		return appErr(ErrTypeForbidden, "step %d waits for agent %s", cur.No, cur.Agent)
	}
	for _, u := range w.deciders {
		if u == d.Actor.UserID && d.Approve {
			return appErr(ErrTypeConflict, "you already approved an earlier step: another approver must decide step %d", cur.No)
		}
	}
	if !d.Approve && d.Comment == "" {
		return appErr(ErrTypeInvalid, "a rejection needs a comment")
	}
	return nil
}

var nextStage = map[string]string{
	activities.OrderApproved: activities.OrderPicking,
	activities.OrderPicking:  activities.OrderShipped,
	activities.OrderShipped:  activities.OrderDelivered,
}

func (w *orderWF) validateFulfilment(f Fulfilment) error {
	switch f.Stage {
	case activities.OrderPicking, activities.OrderShipped, activities.OrderDelivered:
	default:
		return appErr(ErrTypeInvalid, "stage must be picking, shipped or delivered")
	}
	if w.routing() { // checked again once routed (afterRoute)
		if f.Stage == activities.OrderShipped && (f.Carrier == "" || f.TrackingNumber == "") {
			return appErr(ErrTypeInvalid, "shipping needs a carrier and a tracking number")
		}
		return nil
	}
	ok := nextStage[w.st.Status] == f.Stage || (w.st.Status == activities.OrderApproved && f.Stage == activities.OrderShipped)
	if !ok {
		return appErr(ErrTypeConflict, "the order is %s: it cannot become %s", w.st.Status, f.Stage)
	}
	if f.Stage == activities.OrderShipped && (f.Carrier == "" || f.TrackingNumber == "") {
		return appErr(ErrTypeInvalid, "shipping needs a carrier and a tracking number")
	}
	return nil
}

func (w *orderWF) validateCancel(Cancellation) error {
	switch w.st.Status {
	case activities.OrderSubmitted, activities.OrderPendingApproval, activities.OrderApproved, activities.OrderPicking:
		return nil
	}
	return appErr(ErrTypeConflict, "the order is %s: it can no longer be cancelled", w.st.Status)
}

// enqueue hands a command to the main loop and waits until it is done, so
// every change to the order happens in one place, in order.
func (w *orderWF) enqueue(ctx workflow.Context, cmd *orderCmd) (OrderState, error) {
	w.queue = append(w.queue, cmd)
	if err := workflow.Await(ctx, func() bool { return cmd.done }); err != nil {
		return w.st, err
	}
	return w.st, cmd.err
}

// OrderApproval drives one purchase order: evaluate (price checks and route),
// the approval chain with reminders, escalation and expiry, then reservation
// and fulfilment (picking → shipped → delivered). Decisions, fulfilment
// reports and cancellation arrive as validated Updates.
func OrderApproval(ctx workflow.Context, in OrderInput) (OrderState, error) {
	w := &orderWF{in: in, st: OrderState{Status: activities.OrderSubmitted}}
	if err := workflow.SetQueryHandler(ctx, OrderStatusQuery, func() (OrderState, error) { return w.st, nil }); err != nil {
		return w.st, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, OrderDecideUpdate,
		func(ctx workflow.Context, d Decision) (OrderState, error) {
			if err := w.afterRoute(ctx, func() error { return w.validateDecision(d) }); err != nil {
				return w.st, err
			}
			return w.enqueue(ctx, &orderCmd{decide: &d})
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, d Decision) error { return w.validateDecision(d) }}); err != nil {
		return w.st, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, OrderFulfilUpdate,
		func(ctx workflow.Context, f Fulfilment) (OrderState, error) {
			if err := w.afterRoute(ctx, func() error { return w.validateFulfilment(f) }); err != nil {
				return w.st, err
			}
			return w.enqueue(ctx, &orderCmd{fulfil: &f})
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, f Fulfilment) error { return w.validateFulfilment(f) }}); err != nil {
		return w.st, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, OrderCancelUpdate,
		func(ctx workflow.Context, c Cancellation) (OrderState, error) {
			return w.enqueue(ctx, &orderCmd{cancel: &c})
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, c Cancellation) error { return w.validateCancel(c) }}); err != nil {
		return w.st, err
	}

	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	})
	var a *activities.Orders

	var route activities.Route
	if err := workflow.ExecuteActivity(actx, a.Evaluate, in.OrderID).Get(actx, &route); err != nil {
		return w.st, err
	}
	switch route.Outcome {
	case activities.RouteRejected:
		w.st.Status, w.st.Reason = activities.OrderRejected, route.Reason
	case activities.RouteApproved:
		w.st.Status = activities.OrderApproved
	default:
		w.st.Status, w.st.Steps, w.st.CurrentStep = activities.OrderPendingApproval, route.Steps, 1
	}
	if err := setStatus(ctx, w.st.Status); err != nil {
		return w.st, err
	}

	for w.st.Status == activities.OrderPendingApproval {
		if err := w.awaitStep(ctx, actx, route.Timing); err != nil {
			return w.st, err
		}
	}
	for !w.closed() {
		if err := workflow.Await(ctx, func() bool { return len(w.queue) > 0 }); err != nil {
			return w.st, err
		}
		if err := w.process(ctx, actx); err != nil {
			return w.st, err
		}
	}
	// Let every update handler reply before the workflow completes.
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return w.st, err
	}
	return w.st, nil
}

// awaitStep waits on the current approval step: a decision, a cancellation,
// or its reminder, escalation and expiry timers.
func (w *orderWF) awaitStep(ctx, actx workflow.Context, t activities.Timing) error {
	var a *activities.Orders
	step := w.st.CurrentStep
	opened := workflow.Now(ctx)
	reminded := false
	w.st.Escalated = false
	for w.st.Status == activities.OrderPendingApproval && w.st.CurrentStep == step {
		now := workflow.Now(ctx)
		var wait time.Duration
		switch {
		case !reminded:
			wait = opened.Add(t.Reminder).Sub(now)
		case !w.st.Escalated:
			wait = opened.Add(t.Escalate).Sub(now)
		default:
			wait = opened.Add(t.Expire).Sub(now)
		}
		got, err := workflow.AwaitWithTimeout(ctx, max(wait, 0), func() bool { return len(w.queue) > 0 })
		if err != nil {
			return err
		}
		if got {
			if err := w.process(ctx, actx); err != nil {
				return err
			}
			continue
		}
		cur := w.st.Steps[step-1]
		switch {
		case !reminded:
			reminded = true
			if err := workflow.ExecuteActivity(actx, a.StepEvent, activities.StepEventInput{OrderID: w.in.OrderID, Step: step, Kind: "reminder", To: cur.Role}).Get(actx, nil); err != nil {
				return err
			}
		case !w.st.Escalated:
			w.st.Escalated = true
			if err := workflow.ExecuteActivity(actx, a.StepEvent, activities.StepEventInput{OrderID: w.in.OrderID, Step: step, Kind: "escalated", To: escalationRole(cur.Role)}).Get(actx, nil); err != nil {
				return err
			}
		default:
			if err := workflow.ExecuteActivity(actx, a.Expire, w.in.OrderID, step).Get(actx, nil); err != nil {
				return err
			}
			w.st.Status, w.st.Reason = activities.OrderExpired, fmt.Sprintf("step %d (%s) expired without a decision", step, cur.Role)
			return setStatus(ctx, w.st.Status)
		}
	}
	return nil
}

// process runs the oldest queued command.
func (w *orderWF) process(ctx, actx workflow.Context) error {
	var a *activities.Orders
	cmd := w.queue[0]
	w.queue = w.queue[1:]
	defer func() { cmd.done = true }()
	prev := w.st.Status
	switch {
	case cmd.decide != nil:
		// Re-validate: the state may have moved since the validator ran.
		if cmd.err = w.validateDecision(*cmd.decide); cmd.err != nil {
			return nil
		}
		d := cmd.decide
		var res activities.DecideResult
		err := workflow.ExecuteActivity(actx, a.Decide, activities.DecideInput{
			OrderID: w.in.OrderID, Step: w.st.CurrentStep, Approve: d.Approve, Comment: d.Comment,
			UserID: d.Actor.UserID, Role: d.Actor.Role,
		}).Get(actx, &res)
		if err != nil {
			return err
		}
		if d.Approve {
			w.deciders = append(w.deciders, d.Actor.UserID)
		}
		w.st.Status, w.st.Reason = res.Status, res.Reason
		if res.NextStep > 0 {
			w.st.CurrentStep = res.NextStep
		}
	case cmd.fulfil != nil:
		if cmd.err = w.validateFulfilment(*cmd.fulfil); cmd.err != nil {
			return nil
		}
		f := cmd.fulfil
		if err := workflow.ExecuteActivity(actx, a.Fulfil, activities.FulfilInput{
			OrderID: w.in.OrderID, Stage: f.Stage, Carrier: f.Carrier, TrackingNumber: f.TrackingNumber, UserID: f.Actor.UserID,
		}).Get(actx, nil); err != nil {
			return err
		}
		w.st.Status = f.Stage
	case cmd.cancel != nil:
		if cmd.err = w.validateCancel(*cmd.cancel); cmd.err != nil {
			return nil
		}
		if err := workflow.ExecuteActivity(actx, a.Cancel, activities.CancelInput{
			OrderID: w.in.OrderID, UserID: cmd.cancel.Actor.UserID, Reason: cmd.cancel.Reason,
		}).Get(actx, nil); err != nil {
			return err
		}
		w.st.Status, w.st.Reason = activities.OrderCancelled, cmd.cancel.Reason
	}
	if w.st.Status != prev {
		return setStatus(ctx, w.st.Status)
	}
	return nil
}
