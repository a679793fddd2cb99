# The registry API and web UI (modelport serve). Conversions run elsewhere
# (MODELPORT_WORKERS=celery and the worker images); blobs go to S3 (MODELPORT_STORE).
#   docker build -f deploy/docker/api.Dockerfile -t modelport-api .
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY runtime ./runtime
COPY converters ./converters
COPY registry ./registry
COPY api ./api
COPY clients ./clients
COPY deploy/docker/install.sh ./deploy/docker/install.sh
RUN sh deploy/docker/install.sh "server,s3" /opt/venv

FROM python:3.11-slim-bookworm
RUN useradd --create-home --uid 10001 --user-group modelport \
    && mkdir -p /var/lib/modelport && chown 10001:10001 /var/lib/modelport
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    MODELPORT_DATA_DIR=/var/lib/modelport
USER 10001
WORKDIR /var/lib/modelport
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD ["python", "-c", "import httpx; httpx.get('http://127.0.0.1:8000/healthz').raise_for_status()"]
CMD ["modelport", "serve", "--host", "0.0.0.0", "--port", "8000"]
