import io

import pytest

from apps.sharing import demo
from apps.sharing.models import ShareLink
from apps.shop import demo as shop_demo
from tests.sharing.factories import make_koc_user


@pytest.mark.django_db
def test_the_demo_link_is_mias_share_of_the_demo_product_made_once():
    # given
    shop_demo.seed(io.StringIO())
    mia = make_koc_user(username="sandbox-koc-mia", openid="sandbox-koc-mia")

    # when
    demo.seed(io.StringIO())
    demo.seed(io.StringIO())

    # then
    link = ShareLink.objects.get()
    assert (link.sharer, link.target, link.title) == (mia, "product", shop_demo.PRODUCT)


@pytest.mark.django_db
def test_without_mia_the_seed_makes_nothing():
    shop_demo.seed(io.StringIO())
    out = io.StringIO()

    demo.seed(out)

    assert not ShareLink.objects.exists()
    assert "no share link" in out.getvalue()
