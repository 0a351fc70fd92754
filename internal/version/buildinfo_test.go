package version

import (
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestBuildInfo(t *testing.T) {
	want := `# HELP slotsync_build_info A metric with a constant 1, labelled by the slotsync version, Go version and VCS revision of this binary.
# TYPE slotsync_build_info gauge
slotsync_build_info{goversion="` + runtime.Version() + `",revision="` + Revision() + `",version="` + Version + `"} 1
`
	if err := testutil.CollectAndCompare(NewCollector(), strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	if Revision() == "" {
		t.Error("Revision is empty, want a commit or unknown")
	}
}
