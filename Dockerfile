# The card system's server image: web (gunicorn), Celery worker and Celery beat all run from it.
#   docker build -t cardsystem .
# See docs/running-in-production.md for the environment it expects.
FROM python:3.11-slim-bookworm

# The source tree in /app is what runs: the settings find templates/, static/ and locale/ next to
# the code, so /app comes before the copy `pip install .` puts into site-packages.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=cardsystem.settings \
    PYTHONPATH=/app \
    MEDIA_ROOT=/app/var/media

# WeasyPrint (receipts, statements, payout summaries) needs pango and harfbuzz; DejaVu covers
# Danish, Russian and Arabic. gettext's msgfmt compiles the translations below.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core gettext \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY . /app
RUN pip install . \
    && python manage.py collectstatic --no-input -v0 \
    && python manage.py compilemessages -v0

# Never root: a hole in the web process must not own the container. var/ holds the uploaded and
# generated files (a volume shared by web and worker) and beat's schedule.
RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home cardsystem \
    && mkdir -p /app/var/media /app/var/beat \
    && chown -R cardsystem:cardsystem /app/var
USER cardsystem

EXPOSE 8000

# sync workers, 2 per core: measured best for the till's API on 2 cores (bench/README.md); threads
# made the saturated latency worse. On a larger machine raise --workers with the cores.
CMD ["gunicorn", "cardsystem.wsgi", "--bind", "0.0.0.0:8000", "--worker-class", "sync", "--workers", "4", \
     "--timeout", "60", "--access-logfile", "-"]
