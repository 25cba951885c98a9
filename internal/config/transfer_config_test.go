package config

import (
	"testing"
	"time"
)

func TestTransferTimeouts(t *testing.T) {
	c, err := FromEnv(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.TransferRemindAfter != 12*time.Hour || c.TransferEscalateAfter != 24*time.Hour || c.TransferExpireAfter != 48*time.Hour ||
		c.TransferReceiptRemindAfter != 48*time.Hour || c.TransferReceiptEscalateAfter != 96*time.Hour {
		t.Fatalf("transfer timeout defaults: %+v", c)
	}
	c, err = FromEnv(env(map[string]string{"TRANSFER_RECEIPT_REMIND_AFTER": "24h", "TRANSFER_RECEIPT_ESCALATE_AFTER": "72h"}))
	if err != nil || c.TransferReceiptRemindAfter != 24*time.Hour || c.TransferReceiptEscalateAfter != 72*time.Hour {
		t.Fatalf("receipt deadline overrides: %+v, %v", c, err)
	}
	c, err = FromEnv(env(map[string]string{"TRANSFER_REMIND_AFTER": "1h", "TRANSFER_ESCALATE_AFTER": "90m", "TRANSFER_EXPIRE_AFTER": "3h"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.TransferRemindAfter != time.Hour || c.TransferEscalateAfter != 90*time.Minute || c.TransferExpireAfter != 3*time.Hour {
		t.Fatalf("transfer timeout overrides: %+v", c)
	}
	for _, bad := range []map[string]string{
		{"TRANSFER_REMIND_AFTER": "soon"},
		{"TRANSFER_REMIND_AFTER": "0s"},
		{"TRANSFER_REMIND_AFTER": "30h"},                                 // after the escalation
		{"TRANSFER_ESCALATE_AFTER": "48h"},                               // not before the expiry
		{"TRANSFER_EXPIRE_AFTER": "-1h"},                                 // negative
		{"TRANSFER_REMIND_AFTER": "2h", "TRANSFER_ESCALATE_AFTER": "1h"}, // out of order
		{"TRANSFER_RECEIPT_REMIND_AFTER": "0s"},
		{"TRANSFER_RECEIPT_REMIND_AFTER": "100h"}, // after the receipt escalation
		{"TRANSFER_RECEIPT_ESCALATE_AFTER": "later"},
	} {
		if _, err := FromEnv(env(bad)); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
