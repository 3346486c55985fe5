# The Switchyard image: yard-broker, yard-actor, yard-gateway and yard, for deploy/compose.yaml
# and deploy/k8s/ (docs/deploy.md). Two stages on Debian 12 (bookworm), the distribution the
# project builds and tests on: the first builds with Debian's -dev packages (the same names as
# scripts/install-deps.sh), the second holds only their runtime libraries and the programs,
# and runs as an unprivileged user with a fixed UID, so Kubernetes' runAsNonRoot can check it.
#
#   docker build -t switchyard .
#
# Nothing secret is baked in: bus keys, tokens and passwords are mounted at run time
# (compose secrets, Kubernetes Secrets).

FROM debian:bookworm-slim AS build
# cmocka is needed at configure time only (the tests are not built here); NATS is left out
# (it is only for `yard bench compare`).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential cmake pkg-config \
        libzmq3-dev libmsgpack-dev libhiredis-dev libyajl-dev libyaml-dev libcmocka-dev \
        libsodium-dev libczmq-dev libmicrohttpd-dev libcurl4-openssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DYARD_WITH_NATS=OFF \
        --log-level=WARNING \
 && cmake --build /build -j"$(nproc)" --target yard yard-broker yard-actor yard-gateway yard_cli \
 && cmake --install /build --prefix /opt/yard

FROM debian:bookworm-slim AS runtime
# The shared libraries the programs link (libzmq5 ... libcurl4; GnuTLS for the gateway's
# HTTPS, which libmicrohttpd-dev brings in at build time), CA certificates for the
# actors' outbound HTTPS, tzdata for the scheduler's zones, and curl for compose's gateway
# healthcheck (Kubernetes probes the gateway over HTTP itself).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libzmq5 libczmq4 libmsgpackc2 libhiredis0.14 libyajl2 libyaml-0-2 libsodium23 \
        libmicrohttpd12 libgnutls30 libcurl4 ca-certificates tzdata curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 yard \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin yard
COPY --from=build /opt/yard/bin/ /usr/local/bin/
# The programs write nothing but their logs (stderr); state lives in Redis. /tmp is the only
# place they may write (the broker's copy of keys_dir): mount a tmpfs there when the root file
# system is read-only.
USER 10001:10001
WORKDIR /tmp
EXPOSE 5555 8080
CMD ["yard", "--help"]
