from rest_framework import pagination
from rest_framework.exceptions import ValidationError


class PageNumberPagination(pagination.PageNumberPagination):
    """`?page=` and `?page_size=` (at most 100), answered as {count, next, previous, results}.

    A page or page_size that is not a positive whole number is a 400 naming the field (DRF would
    silently fall back to the default, or answer 404); a page past the end is a 404.
    """

    def paginate_queryset(self, queryset, request, view=None):
        self._check_positive(request, self.page_query_param)
        return super().paginate_queryset(queryset, request, view)

    @staticmethod
    def _check_positive(request, name: str) -> int | None:
        values = request.query_params.getlist(name)
        if not values:
            return None
        raw = values[-1]
        if len(values) > 1 or not raw.isdigit() or int(raw) < 1:
            raise ValidationError({name: ["请输入正整数"]})
        return int(raw)

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request):
        size = self._check_positive(request, self.page_size_query_param)
        return self.page_size if size is None else min(size, self.max_page_size)
