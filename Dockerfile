# syntax=docker/dockerfile:1
# Build a static keepkv binary, then ship it alone in a non-root image.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/keepkv ./cmd/keepkv

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/keepkv /keepkv
VOLUME /data
EXPOSE 6379 16379
USER nonroot:nonroot
# Listen on all interfaces for clients; Raft stays on loopback for a single
# node. For a cluster set --raft-addr/--raft-advertise and
# KEEPKV_CLUSTER_SECRET (a node refuses to start with Raft reachable from
# other hosts and no secret; see README and docker-compose.yml).
# Protected mode stays on: clients reach a container through Docker's
# network, not loopback, so they are refused until KEEPKV_PASSWORD is set
# (docker run -e KEEPKV_PASSWORD=...), and then served.
ENTRYPOINT ["/keepkv"]
CMD ["--addr", "0.0.0.0:6379", "--raft-addr", "127.0.0.1:16379", "--dir", "/data"]
