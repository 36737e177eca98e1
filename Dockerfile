# Warren in a container: built in one stage, run as a non-root user with the store on a volume,
# JSON logs on stdout, and a health check that speaks AMQP.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY scripts ./scripts
COPY src ./src
COPY ui ./ui
# npm ci runs "prepare", which builds the server (tsc) and the web UI (vite).
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:20-bookworm-slim
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
RUN mkdir -p /var/lib/warren && chown node:node /var/lib/warren
USER node
VOLUME ["/var/lib/warren"]
EXPOSE 5672 5671 15672
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["node", "dist/healthcheck.js", "5672"]
CMD ["node", "dist/cli.js"]
