from django.urls import path

from payments import apis

urlpatterns = [
    path("api/v1/me/holders", apis.HolderListApi.as_view(), name="guardian_holders"),
    path("api/v1/me/holders/<int:holder_id>", apis.HolderApi.as_view(), name="guardian_holder"),
    path(
        "api/v1/me/holders/<int:holder_id>/transactions",
        apis.HolderTransactionsApi.as_view(),
        name="guardian_holder_transactions",
    ),
    path("api/v1/me/cards/<str:number>/block", apis.CardBlockApi.as_view(), name="guardian_card_block"),
    path("api/v1/me/cards/<str:number>/unblock", apis.CardUnblockApi.as_view(), name="guardian_card_unblock"),
    path("api/v1/me/cards/<str:number>/replace", apis.CardReplaceApi.as_view(), name="guardian_card_replace"),
]
