"""The product's topology: every service's declaration, gathered. The one source Terraform
(``deploy/terraform/topology.json``, generated) and the embedded stack (``deploy/local``) provision from."""

from __future__ import annotations

from services.api.topology import CONSUMER as API
from services.api.topology import ENHANCEMENT_SAGA, SELECTION_SAGA, TRIAGE_SAGA
from services.enhance.topology import CONSUMER as ENHANCE
from services.media_process.topology import CONSUMER as MEDIA_PROCESS
from services.selection.topology import CONSUMER as SELECTION
from services.video.topology import CONSUMER as VIDEO
from shared.runtime.topology import Topology

TOPOLOGY = Topology(
    consumers=(API, MEDIA_PROCESS, SELECTION, ENHANCE, VIDEO),
    state_machines=(TRIAGE_SAGA, SELECTION_SAGA, ENHANCEMENT_SAGA),
)
