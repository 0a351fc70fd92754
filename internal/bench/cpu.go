package bench

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc CPU times: 100 on every Linux
// architecture Go supports.
const clockTicks = 100

// cpuWatch tells how much CPU other work on the machine used while a benchmark
// ran: the machine's busy time from /proc/stat minus the time of this process and
// its descendants (Postgres, etcd, the API server, the manager, pgbench), which
// includes their reaped children.
type cpuWatch struct {
	began      time.Time
	busy, ours float64
	load1      float64
}

// CPUUse is what a cpuWatch saw.
type CPUUse struct {
	// OtherCores is the CPU other work used, on average, in cores.
	OtherCores float64 `json:"otherCores"`
	// OurCores is what the benchmark and everything it started used.
	OurCores float64 `json:"ourCores"`
	// Load1 is the one-minute load average at the start and at the end.
	Load1Start float64 `json:"load1Start"`
	Load1End   float64 `json:"load1End"`
}

func startCPUWatch() *cpuWatch {
	return &cpuWatch{began: time.Now(), busy: machineBusy(), ours: treeCPU(os.Getpid()), load1: load1()}
}

func (w *cpuWatch) stop() CPUUse {
	wall := time.Since(w.began).Seconds()
	if wall <= 0 {
		return CPUUse{}
	}
	busy := machineBusy() - w.busy
	ours := treeCPU(os.Getpid()) - w.ours
	return CPUUse{
		OtherCores: max(0, busy-ours) / wall,
		OurCores:   ours / wall,
		Load1Start: w.load1,
		Load1End:   load1(),
	}
}

// machineBusy is the machine's non-idle CPU time in seconds since boot.
func machineBusy() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var busy float64
	// user nice system idle iowait irq softirq steal: all but idle and iowait.
	for i, v := range f[1:9] {
		if i == 3 || i == 4 {
			continue
		}
		n, _ := strconv.ParseFloat(v, 64)
		busy += n
	}
	return busy / clockTicks
}

// treeCPU is the CPU time in seconds of root and its live descendants, each
// with its reaped children.
func treeCPU(root int) float64 {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	parent := map[int]int{}
	cpu := map[int]float64{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The command name may hold spaces and parentheses: fields start after the last ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 15 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		parent[pid] = ppid
		var t float64
		for _, v := range f[11:15] { // utime stime cutime cstime
			n, _ := strconv.ParseFloat(v, 64)
			t += n
		}
		cpu[pid] = t / clockTicks
	}
	var total float64
	for pid, t := range cpu {
		for p, hops := pid, 0; p > 0 && hops < 64; p, hops = parent[p], hops+1 {
			if p == root {
				total += t
				break
			}
		}
	}
	return total
}

func load1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
