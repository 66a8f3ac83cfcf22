package runs

import (
	"regexp"
	"slices"
	"testing"
)

// TestActiveStatesAgree: the SQL list of active states is the Go one.
func TestActiveStatesAgree(t *testing.T) {
	t.Parallel()
	var sqlList []string
	for _, m := range regexp.MustCompile(`'([a-z]+)'`).FindAllStringSubmatch(activeStates, -1) {
		sqlList = append(sqlList, m[1])
	}
	var goList []string
	for _, s := range RunStates {
		if IsActive(s) {
			goList = append(goList, s)
		}
	}
	slices.Sort(sqlList)
	slices.Sort(goList)
	if !slices.Equal(sqlList, goList) {
		t.Fatalf("activeStates %v, IsActive %v", sqlList, goList)
	}
}
