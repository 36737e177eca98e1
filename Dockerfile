# Warren in a container: built in one stage, run as a non-root user with the store on a volume,
# JSON logs on stdout, and a health check that speaks AMQP. `warren` is the entrypoint, so
# `docker run IMAGE --log-level debug` passes flags to the broker and `docker run IMAGE ctl status`
# runs a ctl command. Node 22 LTS here; the project itself supports Node >= 20.
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY scripts ./scripts
COPY src ./src
COPY ui ./ui
# npm ci runs "prepare", which builds the server (tsc) and the web UI (vite). With the registry
# unreachable npm can print "Exit handler never called!" and still exit 0 without building
# anything, so the step checks for what it was meant to produce and fails here, not at run time.
RUN npm ci --no-audit --no-fund \
    && test -f dist/cli.js \
    && test -f ui/dist/index.html \
    && npm prune --omit=dev

FROM node:22-bookworm-slim
ENV NODE_ENV=production \
    WARREN_DATA_DIR=/var/lib/warren \
    WARREN_HOST=0.0.0.0 \
    WARREN_MANAGEMENT_HOST=0.0.0.0 \
    WARREN_LOOPBACK_USERS=
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/ui/dist ./ui/dist
COPY package.json ./
# `warren` on the PATH too, for `docker exec CONTAINER warren ctl list_queues`.
RUN mkdir -p /var/lib/warren && chown node:node /var/lib/warren \
    && chmod +x /app/dist/cli.js && ln -s /app/dist/cli.js /usr/local/bin/warren
USER node
VOLUME ["/var/lib/warren"]
EXPOSE 5672 5671 15672 15692
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["node", "/app/dist/healthcheck.js", "5672"]
# Exec form: node is PID 1 and gets SIGTERM itself (clean shutdown). CMD holds the default
# arguments (none: the ENV above configures the broker); anything after the image name replaces it.
# --max-semi-space-size=64: V8's young generation at 64 MiB, so messages queued for a few ms are
# collected young instead of being copied around (transient throughput about 1.5×, see README).
# --v8-pool-size=1: one V8 helper thread, not four, so that concurrent marking does not take the
# cores the store's writes and the clients need (1 MiB bodies +20-35%, see README).
ENTRYPOINT ["node", "--max-semi-space-size=64", "--v8-pool-size=1", "/app/dist/cli.js"]
CMD []
