# Talapker bot image: `docker build -t talapker .` then see README "Deploy with Docker".
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements.lock ./
RUN python -m venv /opt/talapker && /opt/talapker/bin/pip install -r requirements.lock
COPY pyproject.toml README.md LICENSE ./
COPY bot ./bot
COPY handlers ./handlers
COPY knowledge ./knowledge
COPY scheduler ./scheduler
COPY storage ./storage
COPY delivery ./delivery
COPY i18n ./i18n
COPY observability ./observability
COPY charts ./charts
RUN /opt/talapker/bin/pip install --no-deps .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/talapker/bin:$PATH \
    DATABASE_URL=sqlite+aiosqlite:////data/talapker.db \
    WEBHOOK_HOST=0.0.0.0 \
    WEBHOOK_PORT=8080
COPY --from=build /opt/talapker /opt/talapker
RUN useradd --system --uid 10001 --home-dir /data --create-home talapker
USER talapker
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
# `run` applies pending migrations itself, then polls or serves the webhook; SIGTERM
# (docker stop) lets in-flight updates finish.
STOPSIGNAL SIGTERM
CMD ["talapker", "run"]
