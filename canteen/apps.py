from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CanteenConfig(AppConfig):
    name = "canteen"
    verbose_name = _("Canteen")

    def ready(self) -> None:
        # A closed account (refund, leaving) ends the holder's meal subscription and unpaid orders.
        from canteen.meal_orders import meal_plans_end
        from cards.closing import holder_closed_hook_register

        holder_closed_hook_register(meal_plans_end)
