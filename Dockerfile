# One image with the slotsync binary: manager, API, sync worker and migrations. The
# dev tooling (cmd/slotsync-dev) never goes in.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY cmd/slotsync/ cmd/slotsync/
COPY controllers/ controllers/
COPY internal/ internal/
COPY migrations/ migrations/
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/slotsync ./cmd/slotsync

# Static binary on distroless: no shell, no package manager, non-root by default.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/slotsync /slotsync
USER 65532:65532
ENTRYPOINT ["/slotsync"]
LABEL org.opencontainers.image.title="slotsync" \
      org.opencontainers.image.description="Mirrors a ticketing partner's inventory into PostgreSQL: operator, REST API and sync worker" \
      org.opencontainers.image.source="https://github.com/slotsync/slotsync"
