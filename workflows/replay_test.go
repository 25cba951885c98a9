package workflows

import (
	"os"
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TestReplayRecordedHistories replays every history recorded under
// testdata/histories against today's workflow code: a change that would break
// a running workflow (non-determinism) fails here. Histories are recorded by
// the integration tests with UPDATE_HISTORIES=1; add one for every shipped
// workflow path and keep the old ones.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "histories", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no recorded histories under testdata/histories")
	}
	replayer := worker.NewWorkflowReplayer()
	for _, d := range Definitions() {
		replayer.RegisterWorkflowWithOptions(d.Fn, workflow.RegisterOptions{Name: d.Name})
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			hist, err := client.HistoryFromJSON(r, client.HistoryJSONOptions{})
			if err != nil {
				t.Fatalf("read %s: %v", f, err)
			}
			if err := replayer.ReplayWorkflowHistory(nil, hist); err != nil {
				t.Fatalf("replay %s: %v", f, err)
			}
		})
	}
}
