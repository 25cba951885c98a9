// Package workflows holds the Temporal workflow definitions of the back office
// and the conventions every workflow shares: the task queue, workflow IDs built
// from business keys, and the search attributes ops use in the Temporal UI.
package workflows

import (
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// TaskQueue is the one task queue every back-office workflow and activity runs on.
const TaskQueue = "backoffice"

// Search attribute keys registered on the namespace. Every workflow sets
// entity kind and business key at start, and keeps status (and, where known,
// agent and region) up to date so ops can filter in the Temporal UI, e.g.
// `BoEntity = "order" AND BoStatus = "pending_approval"`.
var (
	// SAEntity is the kind of business entity the workflow drives ("order", "transfer", ...).
	SAEntity = temporal.NewSearchAttributeKeyKeyword("BoEntity")
	// SAKey is the entity's business key (order number, transfer key, period, ...).
	SAKey = temporal.NewSearchAttributeKeyKeyword("BoKey")
	// SAStatus is the entity's current status.
	SAStatus = temporal.NewSearchAttributeKeyKeyword("BoStatus")
	// SAAgent is the code of the agent the entity belongs to, when there is one.
	SAAgent = temporal.NewSearchAttributeKeyKeyword("BoAgent")
	// SARegion is the region the entity belongs to, when there is one.
	SARegion = temporal.NewSearchAttributeKeyKeyword("BoRegion")
	// SABuyer is the code of the ordering party (agent or store), for orders.
	SABuyer = temporal.NewSearchAttributeKeyKeyword("BoBuyer")
)

// SearchAttributes lists every custom search attribute with its type, for
// registration on a namespace (dev server, tests, deployment set-up).
func SearchAttributes() map[string]enumspb.IndexedValueType {
	return map[string]enumspb.IndexedValueType{
		SAEntity.GetName(): enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SAKey.GetName():    enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SAStatus.GetName(): enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SAAgent.GetName():  enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SARegion.GetName(): enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SABuyer.GetName():  enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	}
}

// Definition is a workflow function and the name it is registered under.
type Definition struct {
	Name string
	Fn   any
}

// Definitions lists every workflow of the back office. The worker registers
// them and the replay tests replay recorded histories against them.
func Definitions() []Definition {
	return []Definition{
		{Name: "StockReceipt", Fn: StockReceipt},
		{Name: "Transfer", Fn: Transfer},
		{Name: "Campaign", Fn: Campaign},
		{Name: "OrderApproval", Fn: OrderApproval},
		{Name: "Certification", Fn: Certification},
		{Name: "Settlement", Fn: Settlement},
		{Name: "SettlementTrigger", Fn: SettlementTrigger},
	}
}

// workflowID joins an entity kind and its business key into a workflow ID,
// e.g. "stock-receipt:RCV-2026-0001".
func workflowID(kind string, key ...string) string {
	return kind + ":" + strings.Join(key, ":")
}
