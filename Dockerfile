# The image of `roster serve` and `roster worker` for ECS Fargate (or any
# container runtime). Two stages: the build, with the Rust toolchain, and a
# slim runtime holding only the binary, CA certificates (RDS, SQS, webhooks
# over TLS) and curl for the health check. No Docker engine runs on the
# development machines: this file is kept small enough to be checked by eye.
#
#   docker build -t roster .
#   docker run -p 8080:8080 -e ROSTER_STORE=postgres -e ROSTER_DATABASE_URL=... roster
#   docker run ... roster worker          # (issue 16: a node without the public API)

FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY . .
# The registry and target caches stay out of the image's layers.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p roster-cli \
 && install -D -m 0755 target/release/roster /out/roster

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/roster --create-home roster
COPY --from=build /out/roster /usr/local/bin/roster
# A task's volume mounted here (the admin_service module's `data`) starts as
# this directory is in the image — owned by roster, not root — because the
# path is a VOLUME: ECS copies a VOLUME's contents and ownership into the
# bind mount at the same containerPath ("Bind mounts", Amazon ECS developer
# guide); without it Fargate makes the mount root-owned, 0755, and roster
# (uid 10001, read-only root filesystem) could not write its data.
VOLUME ["/var/lib/roster"]
USER 10001:10001
WORKDIR /var/lib/roster
# In a container the listener is on every interface; TLS ends at the load
# balancer in front (the AWS shape's ALB), hence plain HTTP is allowed.
ENV ROSTER_LISTEN=0.0.0.0:8080 \
    ROSTER_ALLOW_INSECURE_HTTP=true \
    ROSTER_DATA_DIR=/var/lib/roster \
    ROSTER_HEALTH_URL=http://127.0.0.1:8080/healthz
EXPOSE 8080
# ECS ignores this: its task definition carries the same command as its
# healthCheck (see deploy/terraform/modules/admin_service).
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD curl -fsS "$ROSTER_HEALTH_URL" >/dev/null || exit 1
ENTRYPOINT ["/usr/local/bin/roster"]
CMD ["serve"]
