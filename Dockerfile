# One image holding every shoplab binary (shoplab, product, auth, analytics, email-provider).
# docker-compose.yml runs it once per process and picks the command; see docs/lab-stack.md.
#
# The workspace is compiled once, in release mode. Cache mounts keep the crates.io registry and the
# target directory between builds, so an edit recompiles only what changed (about a minute on 2 cores)
# instead of the ~8 minute clean release build. The cache mounts need BuildKit (the default builder of
# current Docker and of `docker compose build`).

FROM rust:1.95-bookworm AS builder
WORKDIR /src
# sqlx query macros are checked against the committed .sqlx/ data: no database during an image build.
ENV SQLX_OFFLINE=true \
    CARGO_TERM_COLOR=never
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --workspace --bins \
 && mkdir -p /out \
 && for bin in shoplab product auth analytics email-provider; do \
        cp "target/release/$bin" /out/ || exit 1; \
    done

FROM debian:bookworm-slim AS runtime
# ca-certificates for TLS clients; curl for the compose health checks (GET /readyz).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --no-create-home shoplab
COPY --from=builder /out/ /usr/local/bin/
USER shoplab
# Inside a container every process must listen on all interfaces; compose sets the *_ADDR variables.
ENV RUST_LOG=info
EXPOSE 8081 8082 8083 8090 9101 9102 9103 9104
CMD ["shoplab", "--help"]
