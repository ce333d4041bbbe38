from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebshopConfig(AppConfig):
    name = "webshop"
    verbose_name = _("Webshop")

    def ready(self) -> None:
        # A webshop purchase paid at the provider is settled when its callback succeeds.
        from payments.models import Payment
        from payments.settlements import settler_register
        from webshop.orders import order_payment_settle

        settler_register(purpose=Payment.Purpose.WEBSHOP, settler=order_payment_settle)
