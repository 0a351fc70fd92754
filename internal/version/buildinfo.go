package version

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Revision is the commit the binary was built from, as the Go toolchain
// stamped it; "unknown" when built without VCS information (-buildvcs=false,
// or a source tree without .git, as in an image build).
func Revision() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				return s.Value
			}
		}
	}
	return "unknown"
}

// NewCollector returns slotsync_build_info, always 1, so that dashboards can
// join any series with the release that produced it. Each binary registers
// its own: the manager's and the API's registries are separate.
func NewCollector() prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "slotsync_build_info",
		Help: "A metric with a constant 1, labelled by the slotsync version, Go version and VCS revision of this binary.",
		ConstLabels: prometheus.Labels{
			"version":   Version,
			"goversion": runtime.Version(),
			"revision":  Revision(),
		},
	})
	g.Set(1)
	return g
}
