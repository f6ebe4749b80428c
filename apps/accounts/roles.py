"""The names of the console's three roles, as Django groups: 平台管理员, 品牌运营 and 财务.

The names live here, at the bottom of the apps, because the shop's brand scoping and the KOC admin
need them; which permissions each role holds is the console's business (apps/console/roles.py).
"""

PLATFORM_ADMIN = "平台管理员"
BRAND_OPERATOR = "品牌运营"
FINANCE = "财务"
