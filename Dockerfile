# syntax=docker/dockerfile:1
# Multi-stage build: compile with dev dependencies, ship only runtime dependencies.

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY test ./test
COPY bench ./bench
RUN npx tsc -p tsconfig.json

FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
# tini is PID 1: it forwards SIGTERM to the daemon and reaps zombies (orphaned grandchildren of jobs).
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system watchbell \
 && useradd --system --gid watchbell --home-dir /var/lib/watchbell --shell /usr/sbin/nologin watchbell \
 && mkdir -p /etc/watchbell /var/lib/watchbell \
 && chown watchbell:watchbell /var/lib/watchbell
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
COPY package.json ./
COPY bin ./bin
COPY schema ./schema
COPY deploy/docker/watchbell.yaml /etc/watchbell/watchbell.yaml

ENV NODE_ENV=production
USER watchbell
VOLUME ["/var/lib/watchbell"]
EXPOSE 8080
# The daemon answers /health itself; no curl in the image, node does the request.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# SIGTERM (docker stop) starts a graceful shutdown; give it more than shutdown_grace: docker stop -t 45.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/bin/watchbell", "daemon"]
CMD ["--config", "/etc/watchbell/watchbell.yaml", "--data", "/var/lib/watchbell"]
