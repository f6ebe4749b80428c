from rest_framework import pagination
from rest_framework.exceptions import ValidationError


class PageNumberPagination(pagination.PageNumberPagination):
    """`?page=` and `?page_size=` (at most 100), answered as {count, next, previous, results}.

    A page_size that is not a positive whole number is a 400 with the field named (DRF would
    silently fall back to the default); a page past the end is DRF's 404.
    """

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request):
        values = request.query_params.getlist(self.page_size_query_param)
        if not values:
            return self.page_size
        raw = values[-1]
        if len(values) > 1 or not raw.isdigit() or int(raw) < 1:
            raise ValidationError({self.page_size_query_param: ["请输入 1 到 100 之间的整数"]})
        return min(int(raw), self.max_page_size)
