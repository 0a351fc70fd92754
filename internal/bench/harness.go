package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/slotsync/slotsync/internal/pgtest"
	"github.com/slotsync/slotsync/internal/store"
)

// harness is what the topics share: the options, the machine's description and
// one throwaway PostgreSQL server, started on first use.
type harness struct {
	opts    Options
	machine Machine
	started time.Time

	pgOnce sync.Once
	pg     *pgtest.Server
	pgErr  error
	admin  *pgxpool.Pool
	tmpl   string
	dbSeq  int
}

// Machine describes where the figures were measured.
type Machine struct {
	CPUs      int     `json:"cpus"`
	CPUModel  string  `json:"cpuModel"`
	MemoryGiB float64 `json:"memoryGiB"`
	Go        string  `json:"go"`
	Postgres  string  `json:"postgres,omitempty"`
	// PostgresSettings are the server settings that change write speed.
	PostgresSettings string `json:"postgresSettings,omitempty"`
}

func newHarness(_ context.Context, opts Options) (*harness, error) {
	return &harness{opts: opts, machine: describeMachine(), started: time.Now()}, nil
}

// totalBudget bounds a whole run of every topic, so that `make bench` ends
// within 30 minutes with the build; the open-ended search of the capacity
// benchmark takes what the others leave.
const totalBudget = 27 * time.Minute

// timeLeft is what remains of totalBudget.
func (h *harness) timeLeft() time.Duration { return totalBudget - time.Since(h.started) }

func (h *harness) close() {
	if h.admin != nil {
		h.admin.Close()
	}
	if h.pg != nil {
		h.pg.Stop()
	}
}

// postgres starts the shared server once and prepares a migrated template that
// every benchmark database is cloned from.
func (h *harness) postgres(ctx context.Context) (*pgtest.Server, error) {
	h.pgOnce.Do(func() {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		h.pg, h.pgErr = pgtest.Start(sctx)
		if h.pgErr != nil {
			h.pgErr = fmt.Errorf("start postgres: %w", h.pgErr)
			return
		}
		h.admin, h.pgErr = pgxpool.New(ctx, h.pg.URL("postgres"))
		if h.pgErr != nil {
			h.pgErr = fmt.Errorf("connect to postgres: %w", h.pgErr)
			return
		}
		var version, settings string
		h.pgErr = h.admin.QueryRow(ctx, `SELECT current_setting('server_version'),
			format('fsync=%s, synchronous_commit=%s, shared_buffers=%s, max_connections=%s',
			       current_setting('fsync'), current_setting('synchronous_commit'),
			       current_setting('shared_buffers'), current_setting('max_connections'))`).Scan(&version, &settings)
		if h.pgErr != nil {
			h.pgErr = fmt.Errorf("read postgres version: %w", h.pgErr)
			return
		}
		h.machine.Postgres, h.machine.PostgresSettings = version, settings
		h.tmpl = fmt.Sprintf("bench_template_%d", os.Getpid())
		if _, h.pgErr = h.admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{h.tmpl}.Sanitize()); h.pgErr != nil {
			h.pgErr = fmt.Errorf("create template database: %w", h.pgErr)
			return
		}
		if h.pgErr = store.Migrate(ctx, h.pg.URL(h.tmpl)); h.pgErr != nil {
			return
		}
	})
	return h.pg, h.pgErr
}

// newDatabase creates a fresh migrated database and returns its URL. The
// databases live as long as the server: each benchmark reads what it wrote.
func (h *harness) newDatabase(ctx context.Context, name string) (string, error) {
	pg, err := h.postgres(ctx)
	if err != nil {
		return "", err
	}
	h.dbSeq++
	db := fmt.Sprintf("bench_%s_%d", name, h.dbSeq)
	if _, err := h.admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()+" TEMPLATE "+pgx.Identifier{h.tmpl}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s: %w", db, err)
	}
	return pg.URL(db), nil
}

// dropDatabase frees the disk of a database no longer needed.
func (h *harness) dropDatabase(ctx context.Context, url string) error {
	i := strings.LastIndex(url, "/")
	name := url[i+1:]
	if j := strings.IndexByte(name, '?'); j >= 0 {
		name = name[:j]
	}
	if _, err := h.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

func describeMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), CPUModel: "unknown"}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				m.MemoryGiB = kb / (1 << 20)
			}
		}
	}
	return m
}
