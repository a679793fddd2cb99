# Slim runtime / serving image: runtime.load() (onnxruntime + numpy) and the inference
# server `modelport serve-model` (starlette + uvicorn); no registry server and no
# training framework. Applications may also build FROM it and add their own code.
#   docker build -f deploy/docker/runtime.Dockerfile -t modelport-serving .
#   docker run -e MODELPORT_URL=http://registry:8000 -p 8080:8080 modelport-serving fraud-clf@prod
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY runtime ./runtime
COPY converters ./converters
COPY registry ./registry
COPY api ./api
COPY clients ./clients
COPY deploy/docker/install.sh ./deploy/docker/install.sh
RUN sh deploy/docker/install.sh "serve" /opt/venv

FROM python:3.11-slim-bookworm
RUN useradd --create-home --uid 10001 --user-group modelport
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    MODELPORT_CACHE=/home/modelport/.cache/modelport
USER 10001
WORKDIR /home/modelport
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD ["python", "-c", "import httpx; httpx.get('http://127.0.0.1:8080/v2/health/live').raise_for_status()"]
ENTRYPOINT ["modelport", "serve-model", "--host", "0.0.0.0", "--port", "8080"]
CMD ["--help"]
