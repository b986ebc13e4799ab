# syntax=docker/dockerfile:1
# KisFlow service image: docker build -t kisflow:0.1.0 .
# Two stages: the build stage compiles TypeScript with the dev dependencies; the final stage holds
# production dependencies and dist/ only, runs as uid 10001, and starts node directly (no shell, no npm)
# so SIGTERM reaches the service, which drains in-flight batches before it exits.
ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: npm ci with dev dependencies, then tsc -> dist/ --------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` (the build) needs src/, which is copied after this cached layer.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json tsconfig.console.json ./
# The console's page (dist/console/) is built by this script from src/console.
COPY scripts/build-console.mjs ./scripts/
COPY src ./src
RUN npm run build

# ---- runtime: production dependencies, dist/, a non-root user ------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    KISFLOW_CONFIG=/etc/kisflow
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would run tsc, which is a dev dependency; dist/ comes from the build stage.
# Function modules (.ts/.js) live in the config directory /etc/kisflow, outside /app. Two things make them
# load as they do in the repo: /node_modules lets them import the service's dependencies (io-ts, ...) and
# `kisflow` itself; /etc/package.json makes them ES modules (with no package.json above them, Node and
# tsx would treat them as CommonJS). Both sit outside /etc/kisflow, so a mounted ConfigMap keeps them.
RUN npm ci --omit=dev --ignore-scripts \
 && npm cache clean --force \
 && ln -s /app /app/node_modules/kisflow \
 && ln -s /app/node_modules /node_modules \
 && echo '{ "type": "module" }' > /etc/package.json \
 && groupadd --system --gid 10001 kisflow \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin kisflow
COPY --from=build /app/dist ./dist
# The demo config, so `docker run kisflow:0.1.0` runs something; the Helm chart mounts the real one here.
COPY config /etc/kisflow
# Numeric, so Kubernetes' runAsNonRoot can verify it; the chart's runAsUser is the same 10001.
USER 10001:10001
EXPOSE 20004
# Exec form: node is PID 1 and receives SIGTERM itself (it installs handlers for SIGTERM and SIGINT).
ENTRYPOINT ["node", "/app/dist/src/cli/main.js"]
CMD ["run"]
