# syntax=docker/dockerfile:1
# One image with the slotsync binary: manager, API, sync worker and migrations. The
# dev tooling (cmd/slotsync-dev) never goes in.
#
# The bases are build arguments so that a release pins them by digest without
# editing this file: `make pin-bases` prints the --build-arg flags (see
# docs/install.md). The defaults are tags, which can move.
ARG BUILD_IMAGE=golang:1.26
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

# The compiler runs on the build machine's platform and cross-compiles, so a
# multi-platform build needs no emulation.
FROM --platform=$BUILDPLATFORM ${BUILD_IMAGE} AS build
ARG TARGETOS=linux
ARG TARGETARCH
ARG VERSION=dev
ARG REVISION=unknown
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY api/ api/
COPY cmd/slotsync/ cmd/slotsync/
COPY controllers/ controllers/
COPY internal/ internal/
COPY migrations/ migrations/
# No .git here: the revision comes in as an argument, like the version.
RUN --mount=type=cache,target=/root/.cache/go-build \
    --mount=type=cache,target=/go/pkg/mod \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath \
      -ldflags="-s -w -X github.com/slotsync/slotsync/internal/version.Version=${VERSION} -X main.revision=${REVISION}" \
      -o /out/slotsync ./cmd/slotsync

# Static binary on distroless: no shell, no package manager, non-root by default.
FROM ${RUNTIME_IMAGE}
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=https://github.com/slotsync/slotsync
LABEL org.opencontainers.image.title="slotsync" \
      org.opencontainers.image.description="Mirrors a ticketing partner's inventory into PostgreSQL: operator, REST API and sync worker" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/slotsync /slotsync
USER 65532:65532
ENTRYPOINT ["/slotsync"]
