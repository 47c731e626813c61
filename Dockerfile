# soulbridge: one static binary in a distroless image.
#
#   docker build -t soulbridge .
#   docker run -d -p 8080:8080 -v soulbridge-data:/data -e SECRET_KEY=... soulbridge
#
# On Railway this file is built as .railway/railway.ts says (builder
# DOCKERFILE; railway.json describes the same in the former format, which
# Railway no longer reads). Railway's builder rejects VOLUME, so there is none here:
# attach a volume at /data in the service instead.

# --- build --------------------------------------------------------------------
# The Go toolchain go.mod names (go 1.26.x). Base images are named in full
# (registry/namespace/name): podman and buildah refuse short names such as
# golang:1.26 unless the host configures an alias for them.
FROM docker.io/library/golang:1.26 AS build
ENV GOTOOLCHAIN=local GOFLAGS=-mod=readonly
WORKDIR /src

# Modules first, in their own layer: rebuilt only when go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download && go mod verify

COPY . .

# The version `soulbridge version` and /readyz report. Railway passes
# RAILWAY_GIT_COMMIT_SHA to builds that declare it; elsewhere pass
# --build-arg VERSION=... (left empty, the binary reports its build info).
# At run time a RAILWAY_GIT_COMMIT_SHA variable takes precedence.
ARG RAILWAY_GIT_COMMIT_SHA=""
ARG VERSION=${RAILWAY_GIT_COMMIT_SHA}

# Static, reproducible paths, version stamped (the same flags as README.md's
# build command).
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.buildVersion=${VERSION}" -o /out/soulbridge . \
 && mkdir -p /out/data

# --- run ----------------------------------------------------------------------
# distroless/static: CA certificates, tzdata, /etc/passwd with nonroot (65532),
# no shell, no package manager.
FROM gcr.io/distroless/static-debian12

COPY --from=build /out/soulbridge /soulbridge
# /data exists in the image owned by 65532, so a fresh named Docker volume
# mounted there starts out owned by 65532 too.
COPY --from=build --chown=65532:65532 /out/data /data

# SOULBRIDGE_IMAGE marks the image: a root start here that cannot hand the
# data dir to uid 65532 refuses instead of serving as root (privileges.go).
ENV DATA_DIR=/data PORT=8080 SOULBRIDGE_IMAGE=1
EXPOSE 8080

# Privileges: there is deliberately no `USER 65532:65532` here. Railway (and
# some Docker volume drivers) mount the volume root-owned, and a non-root
# process could not write to it. So the container starts as root, and the
# binary itself hands /data (recursively) to uid/gid 65532 and drops to
# 65532 (setgroups, setgid, setuid) before it reads the key file, opens the
# store or binds the port: nothing is ever served as root. See privileges.go.
# To run as non-root from the start, run with --user 65532:65532 on a volume
# that 65532 owns (a fresh named volume does, as /data above is 65532's).

# No shell in the image: the binary checks itself (GET /healthz on $PORT).
# HEALTHCHECK is Docker's image format: podman and buildah keep it only when
# building with --format docker (their default, OCI, has no health check).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["/soulbridge", "healthcheck"]

# Exec form: the binary is PID 1 and receives SIGTERM itself, then drains
# within SHUTDOWN_TIMEOUT, closes the store and exits 0.
ENTRYPOINT ["/soulbridge"]
CMD ["serve"]
