# syntax=docker/dockerfile:1
# The shoplab image: ONE binary, `shoplab` (multi-call: `shoplab product`, `shoplab auth serve|relay|email-worker`,
# `shoplab analytics serve|relay|aggregator`, `shoplab email-provider`, the CLI, and `shoplab health URL`
# for health checks, so the runtime needs no curl). docker-compose.yml runs it once per process; see
# docs/lab-stack.md.
#
# Build cost and caching (BuildKit, the default builder of current Docker and of `docker compose build`):
#   1. `cargo chef cook` compiles only the dependencies, from a recipe of the Cargo manifests and lock file.
#      That layer is reused until Cargo.toml/Cargo.lock change, also on a builder without cache mounts.
#   2. The workspace build runs with cache mounts for the crates.io registry and for its target
#      directory (seeded from step 1 the first time), so after an edit cargo recompiles only the crates
#      that changed.
# CARGO_BUILD_JOBS bounds parallel rustc processes: each can take 1-2 GB of RAM in release mode, more
# than Docker Desktop's default memory limit allows at 8 at once (`CARGO_BUILD_JOBS=2 docker compose build`).
#
# Both architectures a room brings, built natively by each machine's own Docker (an ARM laptop builds
# linux/arm64): every base image here is published for linux/amd64 and linux/arm64. A multi-arch image
# for a registry or an offline bundle (the foreign architecture builds under QEMU emulation, much slower):
#   docker buildx build --platform linux/amd64,linux/arm64 -t REGISTRY/shoplab:TAG --push .

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS chef
# Pinned: the recipe format is cargo-chef's own, so planner and cook must run the same version.
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src
# sqlx query macros are checked against the committed .sqlx/ data: no database during an image build.
ENV SQLX_OFFLINE=true \
    CARGO_TERM_COLOR=never

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
# "default" = one job per core; a number caps it (cargo's build.jobs).
ARG CARGO_BUILD_JOBS=default
ENV CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS}
COPY --from=planner /src/recipe.json recipe.json
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    cargo chef cook --release --locked --recipe-path recipe.json --package shoplab --bin shoplab
COPY . .
# The cache mount hides the cooked target/ of the layer below, so it is copied in once (when the cache
# is new); later builds find their own previous output there.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/cache/target,sharing=locked \
    if [ ! -d /cache/target/release ]; then cp -a target/. /cache/target/; fi \
 && CARGO_TARGET_DIR=/cache/target cargo build --release --locked --package shoplab --bin shoplab \
 && mkdir -p /out \
 && cp /cache/target/release/shoplab /out/shoplab \
 && strip /out/shoplab

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# No apt packages: the binary needs glibc and libgcc (in the base), and the CA bundle, copied from the
# builder, for any TLS endpoint an operator points it at. /run/shoplab is where compose mounts the lab's
# generated secrets (docker/lab-init.sh).
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
RUN useradd --system --uid 10001 --user-group --no-create-home shoplab \
 && mkdir -p /run/shoplab
COPY --from=builder /out/shoplab /usr/local/bin/shoplab
COPY docker/entrypoint.sh /usr/local/bin/shoplab-entrypoint
# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
# No RUST_LOG here: each process keeps its own quiet default filter unless the user sets one.
EXPOSE 8081 8082 8083 8090 9101 9102 9103 9104
ENTRYPOINT ["sh", "/usr/local/bin/shoplab-entrypoint"]
CMD ["shoplab", "--help"]
