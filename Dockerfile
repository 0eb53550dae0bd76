# ipvs-proxy's container image: the static binary on an empty base. No shell,
# no iptables, ipset, ipvsadm, nft or modprobe: the daemon talks netlink
# itself and execs nothing.
#
#   docker build -t ipvs-proxy:dev .
#
# Without a Docker engine, hack/image.sh builds the same image as an OCI
# archive (crane, no base image to pull).

# The Go version of go.mod.
ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
# Modules first, so that editing the code does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY cmd/ cmd/
COPY healthcheck/ healthcheck/
COPY proxier/ proxier/
ARG TARGETARCH
RUN CGO_ENABLED=0 GOOS=linux GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags '-s -w' -o /out/ipvs-proxy ./cmd/ipvs-proxy

FROM scratch
COPY --from=build /out/ipvs-proxy /ipvs-proxy
# Root, because Kubernetes grants a container's added capabilities (the
# DaemonSet adds NET_ADMIN and drops the rest) only to uid 0.
USER 0:0
ENTRYPOINT ["/ipvs-proxy"]
