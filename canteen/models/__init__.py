"""The canteen's models: the buffet (products, sales) and meals (calendar, menus, orders, class meals)."""

from canteen.models.meals import (
    ClassMeal,
    MealOrder,
    MealPolicy,
    MealPrice,
    MealSubscription,
    SchoolDay,
)
from canteen.models.sales import HolderCategoryBlock, Product, ProductCategory, Sale, SaleLine, new_receipt_token

__all__ = [
    "ClassMeal",
    "HolderCategoryBlock",
    "MealOrder",
    "MealPolicy",
    "MealPrice",
    "MealSubscription",
    "Product",
    "ProductCategory",
    "Sale",
    "SaleLine",
    "SchoolDay",
    "new_receipt_token",
]
