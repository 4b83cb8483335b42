# The vaultauth facade: the server stack with the PostgreSQL driver, no embedded OpenBao.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/vaultauth
COPY pyproject.toml README.md ./
COPY vaultauth ./vaultauth
RUN pip install '.[server,postgres]' \
    && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin vaultauth

USER vaultauth
# Every setting is a VAULTAUTH_* variable (docs/configuration.md); the data dir is only used
# by the SQLite default, which a container should not rely on.
ENV VAULTAUTH_DATA_DIR=/tmp/vaultauth
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=2)"]
# Migrations first (serialised across replicas by an advisory lock), then the server.
CMD ["sh", "-c", "vaultauth index upgrade && exec vaultauth serve --host 0.0.0.0 --port 8080"]
