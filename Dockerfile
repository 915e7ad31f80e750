# syntax=docker/dockerfile:1
# Build stage: compile TypeScript and build better-sqlite3 against Node 22.
FROM node:22-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
# npm ci runs the prepare script (the build), so the sources go in first.
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY config ./config
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

# Runtime stage: only what the relay needs, run as a non-root user.
FROM node:22-slim
WORKDIR /app
# ffmpeg (with ffprobe) optimises uploaded videos for /media; without it videos are refused with 422.
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    POWR_RELAY_HOST=0.0.0.0 \
    POWR_RELAY_PORT=7447 \
    POWR_RELAY_DB=/data/relay.db
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/config ./config
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 7447
# Follows POWR_RELAY_PORT, so a container run on another port is still checked where it listens.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.POWR_RELAY_PORT||7447)+'/health').then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"
# The CLI is the entry point: `docker run … powr-relay stats`, `… backup /data/backup.db`.
ENTRYPOINT ["node", "dist/index.js"]
CMD ["start"]
