import factory

from apps.accounts.models import Address, User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"sandbox-user-{n}")
    openid = factory.LazyAttribute(lambda o: o.username)
    nickname = factory.Sequence(lambda n: f"用户{n}")
    avatar_url = factory.Sequence(lambda n: f"https://example.com/avatar/{n}.png")
    password = factory.django.Password("pw")


class AddressFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Address

    user = factory.SubFactory(UserFactory)
    name = "张三"
    phone = "13800000000"
    province = "浙江省"
    city = "杭州市"
    district = "西湖区"
    detail = "文三路 1 号"
    is_default = False
