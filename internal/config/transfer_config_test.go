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
	if c.TransferRemindAfter != 12*time.Hour || c.TransferEscalateAfter != 24*time.Hour || c.TransferExpireAfter != 48*time.Hour {
		t.Fatalf("transfer timeout defaults: %+v", c)
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
	} {
		if _, err := FromEnv(env(bad)); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
