# syntax=docker/dockerfile:1
#
# inventory-monitor: built with the Rust toolchain, run on Debian slim as a non-root user.
# The image is inventory-monitor:VERSION, VERSION being Cargo.toml's (README, Deploying, has
# the tag and push steps); deploy/docker-compose.yml and deploy/kubernetes use the same name.
#
#   docker build -t inventory-monitor:0.1.0 .
#   docker run -p 9857:9857 -e INVENTORY_API_TOKEN \
#     -v "$PWD/my.toml:/etc/inventory-monitor/config.toml:ro" \
#     -v inventory-monitor-state:/var/lib/inventory-monitor inventory-monitor:0.1.0
#
# The config must keep state.dir on the volume (state.dir = "/var/lib/inventory-monitor",
# or the default "./data", which the working directory puts there too).

FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
# The registry and target caches survive between builds (BuildKit); the binary is copied
# out of the cached target directory.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
    && install -m 0755 target/release/inventory-monitor /usr/local/bin/inventory-monitor

FROM debian:bookworm-slim
# ca-certificates: TLS to the API and the receivers. curl: the HEALTHCHECK below.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
# A fixed numeric user, so that Kubernetes' runAsNonRoot can check it.
RUN groupadd --system --gid 10001 inventory-monitor \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /var/lib/inventory-monitor --shell /usr/sbin/nologin inventory-monitor \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/inventory-monitor \
    && install -d -m 0755 /etc/inventory-monitor
COPY --from=build /usr/local/bin/inventory-monitor /usr/local/bin/inventory-monitor
COPY config/inventory-monitor.toml /usr/share/doc/inventory-monitor/inventory-monitor.toml

USER 10001:10001
WORKDIR /var/lib/inventory-monitor
VOLUME /var/lib/inventory-monitor
EXPOSE 9857
# GET /healthz, set from the environment (docker run -e, compose `environment:`):
# - INVENTORY_MONITOR_HEALTHCHECK_URL: default http://127.0.0.1:9857/healthz (the default
#   server.listen); with TLS, https://localhost:PORT/healthz, the certificate naming localhost;
# - INVENTORY_MONITOR_HEALTHCHECK_CURL_OPTS: more curl options, split on spaces (so no spaces
#   in file names), e.g. with TLS and basic auth, files from Docker secrets:
#   "--cacert /run/secrets/ca.crt --netrc-file /run/secrets/probe.netrc", the netrc being
#   "machine localhost login probe password ...": the password stays out of the image
#   and out of `docker inspect`.
# Any curl failure is exit 1 ("unhealthy"; Docker reserves other codes).
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fsS -o /dev/null --max-time 2 ${INVENTORY_MONITOR_HEALTHCHECK_CURL_OPTS-} "${INVENTORY_MONITOR_HEALTHCHECK_URL:-http://127.0.0.1:9857/healthz}" || exit 1
ENTRYPOINT ["inventory-monitor"]
CMD ["run", "--config", "/etc/inventory-monitor/config.toml"]
