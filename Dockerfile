# ipvs-proxy's container image: the static binary on an empty base. No shell,
# no iptables, ipset, ipvsadm, nft or modprobe: the daemon talks netlink
# itself and execs nothing.
#
#   docker build -t ipvs-proxy:dev .
#   docker build --build-arg VERSION=$(hack/version.sh) \
#     --build-arg GIT_COMMIT=$(git rev-parse HEAD) -t ipvs-proxy:$(hack/version.sh) .
#
# Without a Docker engine, hack/image.sh builds the same image as an OCI
# archive (crane, no base image to pull).
#
# The binary is /ipvs-proxy, the entrypoint, and /usr/local/bin/kube-proxy,
# a symbolic link to it: kubeadm's kube-proxy DaemonSet runs
# `command: [/usr/local/bin/kube-proxy, ...]`, so changing only its image
# works. The link adds a few tar headers to the layer, not a second binary.

# The Go version of go.mod.
ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
# Modules first, so that editing the code does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY cmd/ cmd/
COPY healthcheck/ healthcheck/
COPY internal/ internal/
COPY proxier/ proxier/
ARG TARGETARCH
# The version stamp (hack/version.sh prints it; the build context has no .git).
ARG VERSION=dev
ARG GIT_COMMIT=
ARG BUILD_DATE=
RUN CGO_ENABLED=0 GOOS=linux GOARCH=${TARGETARCH} \
    go build -trimpath -o /out/ipvs-proxy -ldflags "-s -w \
      -X github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/version.version=${VERSION} \
      -X github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/version.gitCommit=${GIT_COMMIT} \
      -X github.com/ipvs-proxy/ipvs-proxy/cmd/ipvs-proxy/version.buildDate=${BUILD_DATE}" \
      ./cmd/ipvs-proxy && \
    mkdir -p /out/usr/local/bin && ln -s ../../../ipvs-proxy /out/usr/local/bin/kube-proxy

FROM scratch
ARG VERSION=dev
LABEL org.opencontainers.image.title=ipvs-proxy org.opencontainers.image.version=${VERSION}
# /ipvs-proxy and the usr/local/bin/kube-proxy link, in one layer.
COPY --from=build /out/ /
# Root, because Kubernetes grants a container's added capabilities (the
# DaemonSet adds NET_ADMIN and drops the rest) only to uid 0.
USER 0:0
ENTRYPOINT ["/ipvs-proxy"]
