// Package security holds slotsync's security checks, as tests over what ships:
// the pods of config/ and the Jobs the controller builds are hardened, the
// NetworkPolicies select the right pods and ports, each ServiceAccount can do
// exactly what it needs on a real API server, and no secret reaches a log, an
// event, a status, an error, a metric or a Job's arguments.
package security
