# Slim runtime / serving image: runtime.load() + onnxruntime + numpy, no server and no
# training framework. Applications build FROM it and add their own code.
#   docker build -f deploy/docker/runtime.Dockerfile -t modelport-runtime .
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY runtime ./runtime
COPY converters ./converters
COPY registry ./registry
COPY api ./api
COPY clients ./clients
COPY deploy/docker/install.sh ./deploy/docker/install.sh
RUN sh deploy/docker/install.sh "" /opt/venv

FROM python:3.11-slim-bookworm
RUN useradd --create-home --uid 10001 --user-group modelport
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    MODELPORT_CACHE=/home/modelport/.cache/modelport
USER 10001
WORKDIR /home/modelport
CMD ["python", "-c", "import runtime; print(runtime.__name__, 'ready')"]
