# syntax=docker/dockerfile:1
# SWOOSH server image: `docker build -t swoosh .`, or `docker compose up` (compose.yaml).
# Runs `swoosh serve` against NATS_URL; configuration is the environment (docs/observability.md,
# "Running compose", and `swoosh serve --help`).

# Node 26, the current LTS line; SWOOSH supports 20.19+, 22, 24 and 26 (docs/upgrading.md), and
# records are byte-identical on all of them.
ARG NODE_IMAGE=node:26-slim

# ---- build: every dependency, compile TypeScript to dist/ ----------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# msgpackr-extract is a local stub package (file:./src/stubs/msgpackr-extract) that npm ci
# links, so it has to be in place before the install.
COPY package.json package-lock.json ./
COPY src/stubs/msgpackr-extract ./src/stubs/msgpackr-extract
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY streams ./streams
RUN npm run build

# ---- runtime: production dependencies and the compiled output only -------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
COPY src/stubs/msgpackr-extract ./src/stubs/msgpackr-extract
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin

# Inside a container the API must listen on every interface to be published at all; compose
# publishes it on the host's 127.0.0.1 only. Files stay root-owned and read-only to the app.
# A 192 MB old-space limit keeps the instance's RSS under 300 MB over 500,000 decisions with
# a 10 MB state (docs/performance.md, "Memory"); node's default lets the heap grow to ~400 MB.
ENV SWOOSH_HTTP_HOST=0.0.0.0 \
    SWOOSH_HTTP_PORT=8080 \
    NODE_OPTIONS=--max-old-space-size=192
EXPOSE 8080

# The image's unprivileged user (uid 1000). Mounted key files must be readable by it.
USER node

# No curl in node:26-slim: Node's own fetch asks /health, which answers 200 once the instance
# is ready (writer or follower) and 503 otherwise.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.SWOOSH_HTTP_PORT || '8080') + '/health', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# The package bin (bin/swoosh.js) runs this same file once built.
CMD ["node", "dist/src/cli/main.js", "serve"]
