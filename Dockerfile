# coalmine's container image: a static-ish release build on Debian, run as an unprivileged user, listening
# on Kayenta's port 8090 and keeping its store in /var/lib/coalmine (mount a volume there).
#
#   docker build -t coalmine .
#   docker run -p 8090:8090 -v coalmine-data:/var/lib/coalmine coalmine serve --prometheus-url http://prometheus:9090
FROM rust:1.95-bookworm AS build
# The built-in judges are WebAssembly components, compiled by build.rs.
RUN rustup target add wasm32-wasip2
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin coalmine

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/coalmine coalmine \
    && mkdir -p /var/lib/coalmine \
    && chown coalmine /var/lib/coalmine
COPY --from=build /src/target/release/coalmine /usr/local/bin/coalmine
USER 10001
ENV COALMINE_LISTEN=0.0.0.0:8090 \
    COALMINE_DATA_DIR=/var/lib/coalmine \
    COALMINE_CACHE_DIR=/var/lib/coalmine/cache
EXPOSE 8090
VOLUME /var/lib/coalmine
ENTRYPOINT ["coalmine"]
CMD ["serve"]
