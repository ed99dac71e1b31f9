"""Models: the local open-weights model, the scripted test model, and the one door to any model (litellm).

litellm reaches for a price map on the internet when imported unless told to use its bundled
copy; every module here may import litellm, so the package sets that first.
"""

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
