# Conversion worker for the 'sklearn' queue (also XGBoost / LightGBM / CatBoost files): scikit-learn, skl2onnx and (for PMML) Java 17 with sklearn2pmml; also serves ONNX uploads.
#   docker build -f deploy/docker/worker-sklearn.Dockerfile -t modelport-worker-sklearn .
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY runtime ./runtime
COPY converters ./converters
COPY registry ./registry
COPY api ./api
COPY clients ./clients
COPY deploy/docker/install.sh ./deploy/docker/install.sh
RUN sh deploy/docker/install.sh "server,s3,sklearn,pmml,boosting" /opt/venv

FROM python:3.11-slim-bookworm
# Java runs the PMML conversion (sklearn2pmml) and the PMML validation (pypmml)
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 --user-group modelport \
    && mkdir -p /var/lib/modelport && chown 10001:10001 /var/lib/modelport
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    MODELPORT_DATA_DIR=/var/lib/modelport \
    MODELPORT_WORKERS=celery
USER 10001
WORKDIR /var/lib/modelport
CMD ["modelport", "worker", "--queues", "sklearn"]
