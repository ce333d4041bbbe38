"""Terminal devices, their API tokens, card scans and the state a customer display shows."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Institution
from cards.models import Card


class Terminal(models.Model):
    class Kind(models.TextChoices):
        TILL = "till", _("Canteen till")
        INFO = "info", _("Teacher info terminal")
        LUNCH_LINE = "lunch_line", _("Lunch-line reader")
        OFFICE = "office", _("Office reader")

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="terminals")
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.TILL)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("terminal")
        verbose_name_plural = _("terminals")
        ordering = ["institution__name", "name"]
        constraints = [models.UniqueConstraint(fields=["institution", "name"], name="terminal_name_unique")]

    def __str__(self) -> str:
        return f"{self.name} ({self.institution})"


class TerminalToken(models.Model):
    """A bearer token, stored as its SHA-256 digest; the token itself is shown once when issued."""

    terminal = models.ForeignKey(Terminal, on_delete=models.CASCADE, related_name="tokens")
    digest = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(_("first characters"), max_length=8)
    created_at = models.DateTimeField(_("issued"), default=timezone.now)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("terminal token")
        verbose_name_plural = _("terminal tokens")

    def __str__(self) -> str:
        return f"{self.prefix}…"


class Scan(models.Model):
    """A card read at a terminal; the terminal's staff screen shows the newest one."""

    terminal = models.ForeignKey(Terminal, on_delete=models.CASCADE, related_name="scans")
    card = models.ForeignKey(Card, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    # The terminal's own gap-free read counter and clock: a queued read sent later keeps both, so
    # the server records it once and can tell when one never arrived.
    sequence = models.PositiveBigIntegerField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["terminal", "-id"], name="scan_terminal_newest")]
        constraints = [
            models.UniqueConstraint(
                fields=["terminal", "sequence"], condition=models.Q(sequence__isnull=False), name="scan_sequence_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.card} @ {self.terminal}"


class DisplayState(models.Model):
    """What the customer-facing display of a till shows: the order being rung up, then the result."""

    terminal = models.OneToOneField(Terminal, on_delete=models.CASCADE, related_name="display")
    version = models.PositiveBigIntegerField(default=0)
    payload = models.JSONField(default=dict)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.terminal} v{self.version}"
