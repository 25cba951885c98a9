package activities

import "time"

// Order statuses, as stored and as the BoStatus search attribute.
const (
	OrderSubmitted       = "submitted"
	OrderPendingApproval = "pending_approval"
	OrderApproved        = "approved"
	OrderPicking         = "picking"
	OrderShipped         = "shipped"
	OrderDelivered       = "delivered"
	OrderRejected        = "rejected"
	OrderExpired         = "expired"
	OrderCancelled       = "cancelled"
)

// Route outcomes of an order's evaluation.
const (
	RouteApproved = "approved" // inside policy: approved and reserved at once
	RouteApproval = "approval" // needs the approval chain in Steps
	RouteRejected = "rejected" // refused (e.g. no stock): nothing held
)

// ApprovalStep is one step of an order's approval chain.
type ApprovalStep struct {
	No     int    `json:"no"`
	Role   string `json:"role"`            // agent, hq_sales or finance
	Agent  string `json:"agent,omitempty"` // for agent steps: which agent
	Reason string `json:"reason"`
}

// Timing is when an approval step reminds, escalates and expires, counted
// from the step's opening.
type Timing struct {
	Reminder time.Duration `json:"reminder"`
	Escalate time.Duration `json:"escalate"`
	Expire   time.Duration `json:"expire"`
}

// Route is how an order goes on after its checks.
type Route struct {
	Outcome string         `json:"outcome"`
	Reason  string         `json:"reason,omitempty"`
	Steps   []ApprovalStep `json:"steps,omitempty"`
	Timing  Timing         `json:"timing"`
}

// DecideInput records an approver's decision on a step.
type DecideInput struct {
	OrderID string `json:"order_id"`
	Step    int    `json:"step"`
	Approve bool   `json:"approve"`
	Comment string `json:"comment"`
	UserID  int64  `json:"user_id"`
	Role    string `json:"role"`
}

// DecideResult says where the order stands after a decision.
type DecideResult struct {
	// Status is the order's status after the decision: pending_approval
	// (next step open), approved (last step: stock reserved) or rejected.
	Status   string `json:"status"`
	NextStep int    `json:"next_step,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// StepEventInput records a reminder or escalation of a step.
type StepEventInput struct {
	OrderID string `json:"order_id"`
	Step    int    `json:"step"`
	Kind    string `json:"kind"` // reminder or escalated
	To      string `json:"to,omitempty"`
}

// CancelInput cancels an order.
type CancelInput struct {
	OrderID string `json:"order_id"`
	UserID  int64  `json:"user_id"`
	Reason  string `json:"reason"`
}

// FulfilInput reports a fulfilment stage of an approved order.
type FulfilInput struct {
	OrderID        string `json:"order_id"`
	Stage          string `json:"stage"` // picking, shipped or delivered
	Carrier        string `json:"carrier,omitempty"`
	TrackingNumber string `json:"tracking_number,omitempty"`
	UserID         int64  `json:"user_id"`
}
