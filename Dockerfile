# Production image of the back office: one static binary with the api,
# worker, migrate, seed and user commands. It does not contain the Temporal
# server (that runs as its own service; see docker-compose.yml).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/backoffice ./cmd/backoffice

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/backoffice /usr/local/bin/backoffice
USER nonroot
EXPOSE 8080 9464
ENTRYPOINT ["/usr/local/bin/backoffice"]
CMD ["api"]
