# The odcs-rs image: odcs-server and odcs-worker. Used by every service in docker-compose.yml.
FROM docker.io/library/rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev libsqlite3-dev libssl-dev pkg-config \
    libkrb5-dev libclang-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p odcs-server -p odcs-worker --features odcs-server/kerberos

FROM docker.io/library/debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 libsqlite3-0 libssl3 libgssapi-krb5-2 ca-certificates xorriso \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/odcs --create-home odcs
COPY --from=build /src/target/release/odcs-server /src/target/release/odcs-worker /usr/local/bin/
USER odcs
WORKDIR /var/lib/odcs
EXPOSE 5005
CMD ["odcs-server", "serve"]
