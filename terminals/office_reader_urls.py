"""The office card reader: the terminal's reads in, the back office's poll out (terminals.office_reader)."""

from django.urls import path

from terminals import office_reader

app_name = "office_reader"
urlpatterns = [
    path("api/v1/terminal/office-reads", office_reader.OfficeReadApi.as_view(), name="api_reads"),
    path("back-office/office-reader/latest", office_reader.office_read_latest_view, name="latest"),
]
