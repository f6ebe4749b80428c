"""Admin for the platform and brand staff: KOC review, the team tree, tiers, brand partnerships.

Every change goes through the services: approvals, rejections, moves and level changes are actions
with a form (reason required), so the admin obeys the tree lock and writes the same history as
everything else. The parent is never edited in a form: a bare save of a tree node is how
django-mptt trees get corrupted.

A brand operator (品牌运营) sees only the KOCs partnered with its brand (an accepted invitation),
without their real names and ID numbers, and invites for its own brand only; it changes nothing
here (the actions need the change permission). Approvals, rejections and level changes are written
to each KOC's History page by the services, with the acting user.
"""

from . import kocs, partnerships, sales, tiers  # noqa: F401  (each registers its admins)
