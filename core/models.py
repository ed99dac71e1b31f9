"""Every table of the core, imported in one place for migrations and tests."""

from core.db import Base
from core.finance import models as finance
from core.masterdata import models as masterdata
from core.purchasing import models as purchasing
from core.sales import models as sales
from core.stock import models as stock
from core.transfers import models as transfers

__all__ = ["Base", "finance", "masterdata", "purchasing", "sales", "stock", "transfers"]
