# syntax=docker/dockerfile:1
# The Segl image: the `segl` provider and the `rp-demo` portal, built in release mode, run as a
# non-root user on Debian slim. `docker build -t segl:local .`, then see docker-compose.yml.
#   docker run --rm segl:local keys generate-master          # any segl command
#   docker run --rm -p 8080:8080 segl:local                  # segl serve (SQLite, development)
#   docker run --rm --entrypoint rp-demo segl:local --help   # the demo portal

FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
# The cache mounts keep the registry and compiled dependencies between builds; the binaries are
# copied out of the cached target folder in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin segl -p segl \
    && cargo build --release --locked -p rp-demo \
    && install -m 0755 target/release/segl target/release/rp-demo /usr/local/bin/

FROM debian:bookworm-slim
# ca-certificates: for https calls to other services (back-channel logout, the portals' calls);
# libssl3: webauthn-rs (passkeys) links OpenSSL (the builder image has libssl-dev).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 segl \
    && useradd --system --uid 10001 --gid segl --home-dir /var/lib/segl --create-home \
        --shell /usr/sbin/nologin segl \
    && mkdir -p /etc/segl
COPY --from=builder /usr/local/bin/segl /usr/local/bin/rp-demo /usr/local/bin/
USER 10001:10001
# The working folder holds the default SQLite database (data/segl.db) when no
# SEGL_DATABASE_URL is given.
WORKDIR /var/lib/segl
# Inside a container the provider must listen on every interface, not only on loopback.
ENV SEGL__SERVER__LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["segl"]
CMD ["serve"]
