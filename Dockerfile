# Multi-stage build: compile src/ with dev dependencies, ship only runtime dependencies and the compiled code.
# No `# syntax=` line: it makes BuildKit pull a frontend image from a registry.
# The base is pinned by version on Node 24, an LTS line with security fixes until 2028-04-30 (Node 20's ended
# 2026-04-30). Podman: build with `podman build --format docker`, or HEALTHCHECK is dropped (docs/operations.md).

FROM node:24.11.1-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json
# The schemas' validators as ajv standalone code (dist/src/jobs/standalone/): the daemon then compiles no schema
# at start (src/jobs/schema-validator.ts); and koa, pino and prom-client bundled into one file each over tsc's
# re-exports in dist/src/vendor/ (src/vendor/koa.ts). Both make the daemon start sooner; it runs without them.
COPY scripts/generate-validators.mjs scripts/bundle-vendor.mjs ./scripts/
RUN node scripts/generate-validators.mjs && node scripts/bundle-vendor.mjs

# The dashboard (ui/, its own package): built by Vite into ui/dist, which the daemon serves at /.
# It imports types only from src/jobs/, which the build erases; the file is copied so the import resolves.
FROM node:24.11.1-bookworm-slim AS ui
WORKDIR /src/ui
COPY ui/package.json ui/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY ui ./
COPY src/jobs/execution.ts /src/src/jobs/execution.ts
RUN npm run build

FROM node:24.11.1-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the one install script (ssh2's optional native crypto) needs a compiler and is not needed.
# Source maps (ours are not built, dependencies ship some) point at code the image does not hold.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && find node_modules -name '*.map' -type f -delete

FROM node:24.11.1-bookworm-slim
# tini is PID 1: it forwards SIGTERM to the daemon and reaps zombies (orphaned grandchildren of jobs).
# npm, npx, corepack and yarn go: the daemon needs none of them, and each is code that would need patching.
# The uid/gid are pinned so a volume or bind mount can be chowned ahead of time (chown 10001:10001).
# /home/watchbell is jobs' working directory and HOME: writable, and not the data volume.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && rm -rf /usr/local/lib/node_modules /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
           /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-* \
 && groupadd --gid 10001 watchbell \
 && useradd --uid 10001 --gid watchbell --home-dir /home/watchbell --create-home --shell /usr/sbin/nologin watchbell \
 && mkdir -p /etc/watchbell /var/lib/watchbell \
 && chown watchbell:watchbell /var/lib/watchbell \
 && chmod 0700 /var/lib/watchbell /home/watchbell
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
COPY --from=ui /src/ui/dist ./ui/dist
COPY package.json ./
COPY bin ./bin
COPY schema ./schema
COPY migrations ./migrations
COPY deploy/docker/watchbell.yaml /etc/watchbell/watchbell.yaml
RUN ln -s /app/bin/watchbell /usr/local/bin/watchbell

ENV NODE_ENV=production \
    HOME=/home/watchbell \
    WATCHBELL_CONFIG=/etc/watchbell/watchbell.yaml
USER 10001:10001
WORKDIR /home/watchbell
VOLUME ["/var/lib/watchbell"]
EXPOSE 8080
# The probe reads the listen address from $WATCHBELL_CONFIG (0.0.0.0 is asked on 127.0.0.1, a unix: socket on
# its path), so a config that moves the port keeps the container healthy. No curl in the image: node asks.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "/app/dist/src/cli/health-probe.js"]
# SIGTERM (docker stop) starts a graceful shutdown; give it more than shutdown_grace + kill_grace: --stop-timeout 45.
STOPSIGNAL SIGTERM
ENTRYPOINT ["tini", "--", "watchbell"]
CMD ["daemon"]
