package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestShrinkFitsTheBudgetCuttingTailThenWarningsThenError(t *testing.T) {
	m := Manifest{
		Version:  ManifestVersion,
		Error:    strings.Repeat("é", 3000),
		Warnings: []string{strings.Repeat("w", 1000), strings.Repeat("v", 1000)},
		LogTail:  strings.Repeat("line\n", 1000),
	}
	data := m.shrink(ManifestBudget)
	if len(data) > ManifestBudget {
		t.Fatalf("%d bytes, over the budget", len(data))
	}
	var back Manifest
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatalf("not JSON any more: %v", err)
	}
	if back.LogTail != "" || len(back.Warnings) != 0 || !strings.HasSuffix(back.Error, "...") || !strings.HasPrefix(back.Error, "éé") {
		t.Fatalf("cut in the wrong order: tail %d, warnings %d, error %d bytes", len(back.LogTail), len(back.Warnings), len(back.Error))
	}
}

func TestShrinkKeepsWhatFits(t *testing.T) {
	m := Manifest{Version: ManifestVersion, Error: "boom", LogTail: strings.Repeat("x", 5000)}
	data := m.shrink(ManifestBudget)
	var back Manifest
	json.Unmarshal(data, &back)
	if back.Error != "boom" || len(back.LogTail) < 3000 || len(data) > ManifestBudget {
		t.Fatalf("error %q, tail %d bytes, manifest %d bytes", back.Error, len(back.LogTail), len(data))
	}
}
