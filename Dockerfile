# syntax=docker/dockerfile:1
# The ETL worker image: `etl worker` (every pipeline's task queue) on Node, as a non-root user, with production
# dependencies only and the workflow bundle built here, at image build time (workers start without bundling).
#
#   docker build -t durable-etl-worker .
#   docker compose up -d --scale worker=3        # docker-compose.yml builds it for you
#
# Configuration is the environment (docs/configuration.md); Prometheus metrics on :9464, which the health check reads.
ARG NODE_IMAGE=node:24-bookworm-slim

# Production dependencies, exactly as locked. No install scripts: none of them is needed at run time (the embedded
# Postgres binaries they would prepare serve `etl dev` only, never a worker).
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# The workflow bundle (webpack, through @temporalio/worker).
FROM deps AS bundle
COPY tsconfig.json ./
COPY lib ./lib
COPY workflows ./workflows
COPY activities ./activities
COPY workers ./workers
RUN node --import tsx workers/bundle.ts dist/workflow-bundle.js

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    ETL_WORKFLOW_BUNDLE=/app/dist/workflow-bundle.js \
    ETL_METRICS_ADDRESS=0.0.0.0:9464 \
    ETL_DATA_DIR=/app/.data
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY bin ./bin
COPY cli ./cli
COPY lib ./lib
COPY workflows ./workflows
COPY activities ./activities
COPY workers ./workers
COPY schedules ./schedules
COPY sql ./sql
COPY campaigns ./campaigns
COPY --from=bundle /app/dist ./dist
# The only folder the worker writes to (files it makes before uploading them); the code stays root-owned, read-only.
RUN mkdir -p /app/.data && chown 1000:1000 /app/.data
# The node image's `node` user, by number so that hosts and Kubernetes (runAsNonRoot) can tell it is not root.
USER 1000:1000
EXPOSE 9464
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9464/metrics').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "bin/etl.js"]
CMD ["worker"]
