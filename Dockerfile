# The Fargate backup task (runbooks/backup/backup.md, "Hand-off"): the same code and catalogue as the Lambda
# functions, run as `node bin/ops.js run backup --system S database=D` (RunTask overrides the command).
# Built at deploy time by sst.config.ts; nothing builds it in tests (tests/unit/dockerfile.test.ts reads it).
#
# The base image is pinned by digest so that a deploy builds on the bytes that were reviewed, not on
# whatever the tag points to that day. Refresh the digest when Node 22 has a release:
#   docker buildx imagetools inspect node:22-bookworm-slim   (the "Digest:" line)
ARG NODE_IMAGE=node:22-bookworm-slim@sha256:2bb201f33898d2c0ce638505b426f4dd038cc00e5b2b4cbba17b069f0fff1496

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY bin ./bin
COPY scripts/build.mjs ./scripts/build.mjs
COPY cli ./cli
COPY lib ./lib
COPY runbooks ./runbooks
COPY systems ./systems
COPY schedules ./schedules
COPY alarms ./alarms
COPY functions ./functions
COPY deploy ./deploy
RUN node scripts/build.mjs && npm prune --omit=dev

FROM ${NODE_IMAGE}
# pg_dump/pg_restore of every server major the fleet runs (14, 15, 16), from the PostgreSQL project's
# own apt repository (PGDG): Debian's carries one major only. The runbook picks the one matching the
# server (lib/postgres/tools.ts) among OPS_PG_BIN_DIRS.
# stdbuf, which gives pg_dump's output a 128 KiB buffer (lib/backup/stdout-buffer.ts), comes with
# coreutils, an essential package of every Debian image: nothing to install for it.
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates curl; \
    install -d /usr/share/postgresql-common/pgdg; \
    curl -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc https://www.postgresql.org/media/keys/ACCC4CF8.asc; \
    echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt bookworm-pgdg main" \
      > /etc/apt/sources.list.d/pgdg.list; \
    apt-get update; \
    apt-get install -y --no-install-recommends postgresql-client-14 postgresql-client-15 postgresql-client-16; \
    apt-get purge -y curl; \
    apt-get autoremove -y; \
    rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    OPS_PG_BIN_DIRS=/usr/lib/postgresql/16/bin:/usr/lib/postgresql/15/bin:/usr/lib/postgresql/14/bin
WORKDIR /app
# Sources beside dist/: bin/ops.js runs dist/ only when it is newer than every source (COPY keeps the
# build stage's times, so it is).
COPY --from=build --chown=node:node /app /app
# The image's own unprivileged user (uid 1000): the task needs no root for pg_dump and HTTPS.
USER node
ENTRYPOINT ["node", "bin/ops.js"]
CMD ["--help"]
