# Conversion worker for the 'torch' queue: PyTorch (CPU wheel pinned by constraints.txt) and the ONNX exporter.
#   docker build -f deploy/docker/worker-torch.Dockerfile -t modelport-worker-torch .
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY runtime ./runtime
COPY converters ./converters
COPY registry ./registry
COPY api ./api
COPY clients ./clients
COPY deploy/docker/install.sh ./deploy/docker/install.sh
RUN sh deploy/docker/install.sh "server,s3,torch,transformers" /opt/venv

FROM python:3.11-slim-bookworm
RUN useradd --create-home --uid 10001 --user-group modelport \
    && mkdir -p /var/lib/modelport && chown 10001:10001 /var/lib/modelport
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    MODELPORT_DATA_DIR=/var/lib/modelport \
    MODELPORT_WORKERS=celery
USER 10001
WORKDIR /var/lib/modelport
CMD ["modelport", "worker", "--queues", "torch"]
