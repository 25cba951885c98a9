package api_test

import (
	"context"
	"testing"

	"github.com/alliance/backoffice/api"
	"github.com/alliance/backoffice/internal/auth"
)

// The approval inbox lists only steps the caller may approve: once an
// hq_sales user approved the first step, the second (also hq_sales) is in
// another hq_sales user's inbox, not in the first one's.
func TestInboxLeavesOutStepsAnEarlierApproverCannotApprove(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.user(t, "hq-sales-2", auth.RoleHQSales)
	if _, err := h.pool.Exec(context.Background(), `UPDATE approval_rules SET second_approval_above = 1000.00 WHERE order_kind = 'agent'`); err != nil {
		t.Fatal(err)
	}
	// 400 × 134.40 − 25% = 40320.00: over AG-NORTH's auto-approval limit
	// and the second-approval threshold: hq_sales, then another hq_sales.
	o := h.submit(t, "demo-agent-north", "inbox-1", lines("HY-01", 400))
	if len(o.Approvals) != 2 || o.Approvals[0].Role != "hq_sales" || o.Approvals[1].Role != "hq_sales" {
		t.Fatalf("approvals %+v", o.Approvals)
	}
	inbox := func(user string) []api.Approval {
		var l api.List[api.Approval]
		h.do("GET", "/v1/approvals?assigned=me", user, nil).expect(t, 200).json(t, &l)
		return l.Items
	}
	if a, b := inbox(hqSales), inbox("hq-sales-2"); len(a) != 1 || a[0].Step != 1 || len(b) != 1 || b[0].Step != 1 {
		t.Fatalf("step 1 inboxes %+v / %+v", a, b)
	}
	decide(h, t, hqSales, o.ID, map[string]any{"decision": "approve"}, 200)
	if a := inbox(hqSales); len(a) != 0 {
		t.Fatalf("the first approver's inbox still lists %+v", a)
	}
	if b := inbox("hq-sales-2"); len(b) != 1 || b[0].OrderID != o.ID || b[0].Step != 2 {
		t.Fatalf("the second approver's inbox %+v", b)
	}
	decide(h, t, hqSales, o.ID, map[string]any{"decision": "approve"}, 409) // what the inbox leaves out
	if a := decide(h, t, "hq-sales-2", o.ID, map[string]any{"decision": "approve"}, 200); a.Status != "approved" {
		t.Fatalf("after the second approval %+v", a)
	}
}
