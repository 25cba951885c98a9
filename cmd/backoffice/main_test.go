package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"

	"github.com/alliance/backoffice/internal/config"
)

func TestHelpListsEveryEnvironmentVariable(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v", err)
	}
	for _, v := range config.Vars() {
		if !strings.Contains(out.String(), v.Name) {
			t.Errorf("--help does not mention %s", v.Name)
		}
	}
	for _, cmd := range []string{"api", "worker", "migrate", "seed", "user"} {
		if !strings.Contains(out.String(), "backoffice "+cmd) {
			t.Errorf("--help does not mention %s", cmd)
		}
	}
	if err := run(context.Background(), []string{"frobnicate"}, &out); err == nil {
		t.Error("an unknown command must fail")
	}
}
