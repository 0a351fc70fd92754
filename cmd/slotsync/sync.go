package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
	"github.com/slotsync/slotsync/internal/cli"
	"github.com/slotsync/slotsync/internal/partner"
	"github.com/slotsync/slotsync/internal/ratelimit"
	"github.com/slotsync/slotsync/internal/syncer"
)

func newSyncCmd() *cobra.Command {
	var (
		products       []int64
		fromDay, toDay int
		timezone       string
		shardIndex     int
		shards         int
		scheduledAt    string
		runID          string
		partnerURL     string
		partnerTimeout time.Duration
		rateLimit      int
		rateWindow     time.Duration
		every          time.Duration
		terminationLog string
		maxAttempts    int
		migrate        bool
		polling        string
	)
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Fetch a shard of (product, date) pairs from the partner and write them to Postgres",
		Long: `sync is what each index of a SyncSchedule's Indexed Job runs. It lists every
product on every day from --from-day to --to-day (both inclusive; day 0 is the date
of --scheduled-at in --timezone, else today), keeps the pairs of its shard (dealt round-robin over --shards), fetches
each from the partner under the budget it shares through Postgres with every other
process using the same key, and writes each answer as one snapshot.

A failed pair does not stop the others; the exit code is 1 when any pair failed,
and 3 when the partner rejected the key (then no other pair is tried). With
--scheduled-at and --every, a run still going two intervals after its scheduled
time stops (reason DeadlineExceeded in the summary).
Every snapshot records --run-id; a retried index skips the pairs whose last write
carries the same run id (an earlier attempt of the same run), so it spends budget
only on what failed, and refetches what other runs wrote.
With --polling=adaptive it leaves out the dates on weekdays a product has been
learned, from the answers stored in Postgres, to have no slots on, while each was
checked so lately that this band's next run (--every on) comes within 24h of the
check; the summary counts them as pairsPlanned.
The summary goes to stdout and, as JSON, to --termination-log.

Environment:
  PARTNER_API_KEY   the partner key (required)
  DATABASE_URL      the Postgres URL (required)
  JOB_COMPLETION_INDEX   the shard index when --shard-index is not given`,
		Example: `  PARTNER_API_KEY=dev-key DATABASE_URL=postgres://localhost/slotsync \
    slotsync sync --products 14,15 --from-day 0 --to-day 6 --partner-url http://127.0.0.1:8081`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			log := logr.FromContextOrDiscard(ctx)
			key, err := envSecret("PARTNER_API_KEY")
			if err != nil {
				return err
			}
			dbURL, err := envSecret("DATABASE_URL")
			if err != nil {
				return err
			}
			loc, err := time.LoadLocation(timezone)
			if err != nil {
				return fmt.Errorf("--timezone %q: %w", timezone, err)
			}
			if !cmd.Flags().Changed("shard-index") {
				if v := os.Getenv("JOB_COMPLETION_INDEX"); v != "" {
					if shardIndex, err = strconv.Atoi(v); err != nil {
						return fmt.Errorf("JOB_COMPLETION_INDEX %q is not a number", v)
					}
				}
			}
			var since time.Time
			if scheduledAt != "" {
				if since, err = time.Parse(time.RFC3339, scheduledAt); err != nil {
					return fmt.Errorf("--scheduled-at %q: want RFC 3339 like 2026-12-01T06:00:00Z", scheduledAt)
				}
			}
			if len(products) == 0 {
				return fmt.Errorf("--products: want at least one product id")
			}
			if polling != "uniform" && polling != "adaptive" {
				return fmt.Errorf("--polling %q: want uniform or adaptive", polling)
			}

			db, err := openStore(ctx, dbURL, migrate)
			if err != nil {
				return err
			}
			defer db.Close()
			limits := []ratelimit.Option{ratelimit.WithPriority(every)}
			var deadline time.Time
			if !since.IsZero() && every > 0 {
				limits = append(limits, ratelimit.WithDeadline(since.Add(every)))
				deadline = inventoryv1alpha1.Band{Every: every}.RunDeadline(since)
			}
			limiter, err := ratelimit.New(db.Pool(), key, rateLimit, rateWindow, limits...)
			if err != nil {
				return err
			}
			client, err := partner.New(partnerURL, key,
				partner.WithTimeout(partnerTimeout),
				partner.WithLimiter(limiter),
				partner.WithRetry(maxAttempts, 500*time.Millisecond, 10*time.Second))
			if err != nil {
				return err
			}
			w := &syncer.Worker{Fetcher: client, Writer: db}
			sum, runErr := w.Run(ctx, syncer.Config{
				Products: products, FromDay: fromDay, ToDay: toDay, Location: loc,
				ShardIndex: shardIndex, ShardCount: shards, ScheduledAt: since, RunID: runID, Deadline: deadline,
				Adaptive: polling == "adaptive", Every: every,
			})
			fmt.Fprintln(cmd.OutOrStdout(), sum.Line())
			if terminationLog != "" {
				if err := sum.WriteTerminationMessage(terminationLog); err != nil {
					log.Error(err, "summary not written", "path", terminationLog)
				}
			}
			if runErr != nil && sum.Reason == inventoryv1alpha1.ReasonPartnerUnauthorized {
				return &cli.ExitError{Code: int(inventoryv1alpha1.ExitCodePartnerUnauthorized), Err: runErr}
			}
			return runErr
		},
	}
	f := cmd.Flags()
	f.Int64SliceVar(&products, "products", nil, "product ids to sync, comma-separated")
	f.IntVar(&fromDay, "from-day", 0, "first day to sync, relative to today (0 is today)")
	f.IntVar(&toDay, "to-day", 0, "last day to sync, relative to today, inclusive")
	f.StringVar(&timezone, "timezone", "UTC", "IANA time zone whose calendar defines today")
	f.IntVar(&shardIndex, "shard-index", 0, "this worker's shard (default: $JOB_COMPLETION_INDEX, else 0)")
	f.IntVar(&shards, "shards", 1, "how many shards share the pairs")
	f.StringVar(&scheduledAt, "scheduled-at", "", "the run's scheduled time (RFC 3339), whose date in --timezone is day 0")
	f.StringVar(&runID, "run-id", "", "the run's identity (its Job's name), recorded with every snapshot; a retry skips the pairs it wrote (empty: skip nothing)")
	f.StringVar(&partnerURL, "partner-url", "http://127.0.0.1:8081", "base URL of the partner inventory API")
	f.DurationVar(&partnerTimeout, "partner-timeout", 10*time.Second, "timeout of one partner request")
	f.IntVar(&rateLimit, "rate-limit", 30, "requests the key may make per --rate-window, shared by every worker")
	f.DurationVar(&rateWindow, "rate-window", time.Minute, "the partner's rate-limit window")
	f.DurationVar(&every, "every", 0, "how often this band is refreshed: workers of bands refreshed more often get the key's budget first (0: before every band), until --scheduled-at + --every has passed")
	f.IntVar(&maxAttempts, "max-attempts", 4, "attempts per pair for 5xx, timeouts and 429s")
	f.StringVar(&polling, "polling", "uniform", "uniform fetches every pair; adaptive leaves out dates on weekdays a product was learned to have no slots on while checked less than 24h before the band's next run (--every)")
	f.BoolVar(&migrate, "migrate", false, "apply pending schema migrations first (safe when many workers start at once)")
	f.StringVar(&terminationLog, "termination-log", "/dev/termination-log", "where to write the JSON summary for the controller (empty: nowhere)")
	return cmd
}
