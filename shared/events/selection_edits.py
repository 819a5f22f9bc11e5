"""The selection job's API-side events: a job created by the person, and the picks they edited.

They live here, not in ``catalogue`` (which stays under the module size limit); ``codec.CATALOGUE``
registers ``EVENTS`` beside ``catalogue.ALL_EVENTS`` and they follow the same versioning rules.
"""

from __future__ import annotations

from typing import Any

from .envelope import Event, Payload


class SelectionInitializedData(Payload, frozen=True, kw_only=True):
    """``POST /v1/sessions/{id}/selections``: the person asked for a selection; its saga waits for every
    expected file to be decided and for ``triage_job_id`` to complete, then records
    ``selection.requested``."""

    job_id: str
    triage_job_id: str
    count: int | None = None  # how many picks (>= 1); None = "all"
    context: str = ""
    model: str | None = None


class SelectionInitialized(
    Event[SelectionInitializedData], tag="shoebox.selection.initialized.v1", frozen=True
):
    pass


class SelectionPicksEditedData(Payload, frozen=True, kw_only=True):
    """``PUT …/selections/{job}/picks``: the person moved items between picks and exclusions. The edited
    lists are a ``SelectionResults`` file at ``picks_key`` (the lists can exceed an event's 64 KB); what
    is enhanced later is this edited list, not the provider's."""

    job_id: str
    attempt: int  # the result attempt that was edited
    picks_key: str  # results/<session>/selection-<job>-picks-<revision>.json
    revision: int  # 1, 2, … per job: each edit writes its own file
    selected: int
    excluded: int


class SelectionPicksEdited(
    Event[SelectionPicksEditedData], tag="shoebox.selection.picks.edited.v1", frozen=True
):
    pass


#: this module's event classes, registered in ``codec.CATALOGUE`` after ``catalogue.ALL_EVENTS``
EVENTS: tuple[type[Event[Any]], ...] = (SelectionInitialized, SelectionPicksEdited)
