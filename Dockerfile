# syntax=docker/dockerfile:1
#
# Gatehouse in a container: one static, CGO-free binary on distroless,
# running as a non-root user, with SQLite in the /data volume by default.
#
#   docker build -t gatehouse --build-arg VERSION=$(git describe --tags --always --dirty) .
#   docker run -d --name gatehouse -p 8080:8080 -v gatehouse-data:/data gatehouse
#
# See docs/docker.md (PostgreSQL, configuration, probes).

# ---- build ----------------------------------------------------------------
# The generated templ code and the built CSS are committed, so Go is all the
# build needs (no Node stage).
FROM golang:1.26 AS build
WORKDIR /src

# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath \
        -ldflags "-s -w -X github.com/gatehouse/gatehouse/app.Version=${VERSION}" \
        -o /out/gatehouse . \
 && mkdir -p /out/data

# ---- run ------------------------------------------------------------------
# distroless/static: CA certificates, time zones, /etc/passwd with the
# "nonroot" user (65532), no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gatehouse /usr/local/bin/gatehouse
# A new named volume takes this folder's owner, so the server can write it.
COPY --from=build --chown=65532:65532 /out/data /data

ENV GATEHOUSE_ADDR=0.0.0.0:8080 \
    GATEHOUSE_DATABASE_URL=sqlite:///data/gatehouse.db
USER 65532:65532
VOLUME /data
EXPOSE 8080

# No HEALTHCHECK: the image has no shell or curl, and the binary has no
# probe command. Point your orchestrator at GET /healthz (liveness) and
# GET /readyz (readiness: the database answers) instead.
ENTRYPOINT ["/usr/local/bin/gatehouse"]
CMD ["serve"]
