// Package partnersim is a faithful, deterministic simulator of the partner's
// inventory API for development, tests and benchmarks. It serves the same path,
// header, answer shapes and 401/429 behaviour as the partner, with a per-key rate
// limit, inventory that changes over time, and faults that can be switched on at
// start or at runtime.
//
// Inventory is a pure function of the seed, the product, the date and the clock
// (see Server.Inventory), so tests can compare what was synced with the truth.
//
// Where the partner's documentation is silent the simulator picks a behaviour and
// says so:
//   - An unknown product id gets 404 with a JSON error; the real partner's answer
//     for unknown ids is not specified.
//   - The rate limit uses fixed windows aligned to multiples of Window since the
//     Unix epoch (with the default minute, windows start at whole minutes). Every
//     authenticated request that is not answered 429 spends budget, including
//     400, 404 and injected faults; a 429 spends none.
//   - Authentication is checked before the rate limit, so a 401 spends no budget.
//
// The /admin endpoints have no authentication. They exist for tests, development
// and benchmarks and must never be exposed beyond loopback or a test cluster.
package partnersim
