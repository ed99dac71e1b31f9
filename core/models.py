"""Every table of the core, imported in one place for migrations and tests."""

from core.audit import models as audit
from core.conversations import models as conversations
from core.db import Base
from core.drafts import models as drafts
from core.exceptions import models as exceptions
from core.finance import models as finance
from core.identity import models as identity
from core.integrations import models as integrations
from core.masterdata import models as masterdata
from core.outbox import models as outbox
from core.payables import models as payables
from core.planning import models as planning
from core.policy import models as policy
from core.purchasing import models as purchasing
from core.receivables import models as receivables
from core.returns import models as returns
from core.sales import models as sales
from core.shipping import models as shipping
from core.stock import models as stock
from core.transfers import models as transfers

__all__ = [
    "Base",
    "audit",
    "conversations",
    "drafts",
    "exceptions",
    "finance",
    "identity",
    "integrations",
    "masterdata",
    "outbox",
    "payables",
    "planning",
    "policy",
    "purchasing",
    "receivables",
    "returns",
    "sales",
    "shipping",
    "stock",
    "transfers",
]
