"""Settings for every deployment, configured by environment variables.

Without any environment the embedded defaults apply (SQLite file, eager Celery, local-memory
cache, console mail): enough for `make run` and the tests that need no services.
"""

from pathlib import Path

import csp.constants
import environ
from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
# The default key is marked insecure so that `manage.py check --deploy` refuses it.
SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-development-only-key-change-me")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

CURRENCY = env.str("CURRENCY", default="DKK")
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Copenhagen")
USE_TZ = True
USE_I18N = True
LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="da")
LANGUAGES = [
    ("da", "Dansk"),
    ("en", "English"),
    ("ar", "العربية"),
    ("ru", "Русский"),
    ("sk", "Slovenčina"),
]
LOCALE_PATHS = [BASE_DIR / "locale"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "cardsystem",
    "accounts",
    "cards",
    "payments",
    "canteen",
    "payouts",
    "privacy",
    "terminals",
    "outbox",
    "webshop",
]

MIDDLEWARE = [
    "cardsystem.request_id.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "cardsystem.urls"
WSGI_APPLICATION = "cardsystem.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    }
]

DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Persistent connections: a new connection per request costs more than the request itself.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=600)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Server-side parameters let psycopg prepare the till's fixed statements after a few runs, so
    # PostgreSQL stops parsing and planning them on every sale (bench/README.md).
    DATABASES["default"].setdefault("OPTIONS", {})["server_side_binding"] = env.bool(
        "DB_SERVER_SIDE_BINDING", default=True
    )
    DATABASES["default"].setdefault("TEST", {})["NAME"] = env.str("TEST_DATABASE_NAME", default="test_cardsystem")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

REDIS_URL = env.str("REDIS_URL", default="")
# Redis answers in well under a millisecond; when it is down or hangs, a till must not wait on it. The
# cache fails soft (cardsystem.cache) and tasks go to the outbox (outbox.services).
REDIS_TIMEOUT_SECONDS = 1.0
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "cardsystem.cache.FailSoftRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": REDIS_TIMEOUT_SECONDS, "socket_timeout": REDIS_TIMEOUT_SECONDS},
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CELERY_BROKER_URL = "memory://"
    CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
# Publishing gives up quickly (one reconnect, short socket timeouts) rather than retrying for seconds.
CELERY_BROKER_CONNECTION_TIMEOUT = REDIS_TIMEOUT_SECONDS
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # A task taken by a worker that died (acks late) goes back to the queue after this long; Redis's
    # default of an hour would put a killed 05:30 payout build past NemKonto's 06:00 deadline [NK].
    # Longer than any task runs (the longest, the payout batch and the sweeps, take seconds: bench/).
    "visibility_timeout": 900,
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
    "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
    "socket_timeout": REDIS_TIMEOUT_SECONDS,
}
# The worker logs through LOGGING below (JSON lines with the request id), not Celery's own handler.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
# A task whose worker process dies (killed, out of memory) goes back to the queue and runs again,
# instead of being acknowledged as failed: every task is idempotent (DESIGN.md), so the deadline job
# and the payout batch pick up where the dead one stopped.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_BEAT_SCHEDULE = {
    "nightly-ledger-check": {"task": "payments.ledger_check", "schedule": crontab(hour=3, minute=15)},
    "hourly-scan-purge": {"task": "terminals.scans_purge", "schedule": crontab(minute=5)},
    "low-balance-sweep": {"task": "payments.low_balance_sweep", "schedule": crontab(minute="*/10")},
    "payments-expire": {"task": "payments.payments_expire", "schedule": crontab(minute="*/5")},
    "meal-deadlines": {"task": "canteen.meal_deadlines", "schedule": crontab(minute="*/5")},
    "privacy-anonymise": {"task": "privacy.holders_anonymise_due", "schedule": crontab(hour=2, minute=30)},
    # Tasks kept while the broker was down go out within a minute of its return.
    "outbox-drain": {"task": "outbox.drain", "schedule": crontab()},
}

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="cardsystem@localhost")

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = env.str("ACCOUNT_EMAIL_VERIFICATION", default="mandatory")
ACCOUNT_RATE_LIMITS = {"login_failed": "10/m/ip,5/5m/key"}
ACCOUNT_UNIQUE_EMAIL = True
# Optional two-factor sign-in: an authenticator app (TOTP) with recovery codes.
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = env.str("MFA_TOTP_ISSUER", default="Card system")
LOGIN_REDIRECT_URL = "/"
LOGIN_URL = "/accounts/login/"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if env.bool("FAST_PASSWORD_HASHER", default=False):
    # Tests only: the default hasher takes over a second per call on small machines.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "var" / "media")))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "cardsystem.api_errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    # Per token (cardsystem.throttles): a till at lunch makes a few requests a second; a runaway or
    # stolen token is held back. Session users are limited by the login rate limits instead.
    "DEFAULT_THROTTLE_CLASSES": [
        "cardsystem.throttles.TerminalTokenThrottle",
        "cardsystem.throttles.PersonalTokenThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "terminal": env.str("THROTTLE_RATE_TERMINAL", default="50/s"),
        "personal_token": env.str("THROTTLE_RATE_PERSONAL_TOKEN", default="120/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Card system API",
    "DESCRIPTION": "Terminal and guardian API of the cashless card system.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Served from our own static files: no CDN sees who reads the docs.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Production hardening; `manage.py check --deploy` is clean when DEBUG is off and these keep their defaults.
# Each can be turned off by the environment (e.g. SECURE_SSL_REDIRECT=false when the proxy redirects).
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# The load balancer's health check speaks plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
# Behind a TLS-terminating proxy: the header it sets and the value meaning HTTPS (empty: no proxy;
# only set it when the proxy always overwrites that header, or clients could claim HTTPS).
_proxy_ssl_header = env.str("SECURE_PROXY_SSL_HEADER", default="HTTP_X_FORWARDED_PROTO=https")
SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header.split("=", 1)) if "=" in _proxy_ssl_header else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content security policy (django-csp): our own origin only. The few inline scripts and styles carry the
# per-request nonce (`nonce="{{ request.csp_nonce }}"`); photos may be data: URLs.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.constants.SELF],
        "script-src": [csp.constants.SELF, csp.constants.NONCE],
        "style-src": [csp.constants.SELF, csp.constants.NONCE],
        "img-src": [csp.constants.SELF, "data:"],
        "connect-src": [csp.constants.SELF],
        "object-src": [csp.constants.NONE],
        "base-uri": [csp.constants.SELF],
        "frame-ancestors": [csp.constants.NONE],
    }
}

# Business settings (DOMAIN.md defaults).
CARD_REPLACEMENT_FEE_CENTS = env.int("CARD_REPLACEMENT_FEE_CENTS", default=2500)
DEFAULT_DEBT_LIMIT_CENTS = env.int("DEFAULT_DEBT_LIMIT_CENTS", default=15000)
TOPUP_MINIMUM_CENTS = env.int("TOPUP_MINIMUM_CENTS", default=5000)
TOPUP_MAXIMUM_CENTS = env.int("TOPUP_MAXIMUM_CENTS", default=500000)

# Payments: the provider guardians pay with. "test" is the built-in test provider (a hosted page and an
# HMAC-signed callback, like a real one); a real adapter is another module in payments/providers/.
PAYMENT_PROVIDER = env.str("PAYMENT_PROVIDER", default="test")
# The secret the provider signs its callbacks with (shared with the provider).
PAYMENT_CALLBACK_SECRET = env.str("PAYMENT_CALLBACK_SECRET", default=SECRET_KEY + ":payments")
# A callback older than this is refused (a captured callback cannot be replayed later).
PAYMENT_CALLBACK_TOLERANCE_SECONDS = env.int("PAYMENT_CALLBACK_TOLERANCE_SECONDS", default=300)
# A payment nobody finished at the provider expires after this long.
PAYMENT_EXPIRY_MINUTES = env.int("PAYMENT_EXPIRY_MINUTES", default=30)
# The address the provider's pages and callbacks are reached at (absolute URLs in payment links).
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

# Payees' CPR numbers are encrypted with these Fernet keys (comma-separated, newest first; see
# payouts.crypto). Empty: a key derived from SECRET_KEY, for trying the system out only.
CPR_ENCRYPTION_KEYS = env.str("CPR_ENCRYPTION_KEYS", default="")
# What a payout costs, kept from the refunded balance [PZ]; nothing is paid below 0.01 after it.
PAYOUT_COST_CENTS = env.int("PAYOUT_COST_CENTS", default=0)
# Payout batches are built by the schedule at this time (before NemKonto's 06:00 deadline [NK]).
PAYOUT_CUTOFF = env.str("PAYOUT_CUTOFF", default="05:30")
# Built at the cut-off, before NemKonto's 06:00 deadline [NK].
CELERY_BEAT_SCHEDULE["payout-batch-build"] = {
    "task": "payouts.payout_batch_build",
    "schedule": crontab(hour=int(PAYOUT_CUTOFF.split(":")[0]), minute=int(PAYOUT_CUTOFF.split(":")[1])),
}
# The municipality's NemKonto agreement and debit account, and its SEPA debtor details.
NEMKONTO_AGREEMENT_NUMBER = env.str("NEMKONTO_AGREEMENT_NUMBER", default="00000000")
NEMKONTO_DEBIT_ACCOUNT = env.str("NEMKONTO_DEBIT_ACCOUNT", default="00000000000000")
SEPA_DEBTOR_NAME = env.str("SEPA_DEBTOR_NAME", default="Demo Kommune")
SEPA_DEBTOR_IBAN = env.str("SEPA_DEBTOR_IBAN", default="DK5000400440116243")
SEPA_DEBTOR_BIC = env.str("SEPA_DEBTOR_BIC", default="DABADKKK")
# Refunds above this amount need a second office user's approval; corrections too.
CORRECTION_FOUR_EYES_ABOVE_CENTS = env.int("CORRECTION_FOUR_EYES_ABOVE_CENTS", default=50000)
# Cardholders who left are anonymised after this many days.
RETENTION_DAYS_AFTER_LEAVING = env.int("RETENTION_DAYS_AFTER_LEAVING", default=5 * 365)

# Logs go to stdout with the request id on every line: JSON lines for a log collector
# (LOG_FORMAT=json), readable text otherwise. CPR-shaped numbers are masked in every record.
LOG_FORMAT = env.str("LOG_FORMAT", default="text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "cardsystem.logging.RequestIdFilter"},
        "mask_cpr": {"()": "cardsystem.logging.MaskCprFilter"},
    },
    "formatters": {
        "json": {"()": "cardsystem.logging.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "filters": ["request_id", "mask_cpr"],
            "formatter": "json" if LOG_FORMAT == "json" else "text",
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
