# The muster image: a static-enough binary on a distroless base.
#   docker build -t ghcr.io/muster-dev/muster:0.1.0 .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p muster

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/muster /usr/local/bin/muster
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/muster"]
